"""Full fetch of 50 wide entities: orm_ext vs. SQLAlchemy's ORM, side by side.

50 entities x 60 mixed properties (strings, ints, floats, bools, datetimes,
json, compressed text, repeated strings) on SQLite. orm_ext decodes every
property from the protobuf blob; SQLAlchemy's ORM loads the same values from
a 60-column table into mapped objects. Medians over interleaved repeats.

Run: .venv/bin/python bench/decode.py [--repeats N]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _wide import MIX, NAMES, PlainVideo, WideVideo, fill, peer_full, side_by_side

from orm_ext import _codegen, codec
from orm_ext.entity_pb2 import Entity

LABELS = {
    "s": "short strings",
    "i": "ints",
    "f": "floats",
    "b": "bools",
    "d": "datetimes",
    "j": "json",
    "t": "compressed text",
    "r": "repeated strings",
}


def breakdown(blobs: list[bytes], repeats: int) -> dict[str, float]:
    """Median ms per 50 entities of parsing, and of decoding each property type."""
    msgs = [Entity.FromString(b) for b in blobs]
    variants = {"parse": lambda: [Entity.FromString(b) for b in blobs]}
    for prefix, _, _ in MIX:
        decoder = _codegen.decoder_for(WideVideo, frozenset(n for n in NAMES if n[0] == prefix))
        variants[prefix] = lambda d=decoder: [d(m.properties, {}) for m in msgs]
    return {k: v * 1e3 for k, v in side_by_side(variants, repeats, warmup=5).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="print where orm_ext's time goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        store, engine = fill(url)
        ours = lambda: WideVideo.query().fetch(50)  # noqa: E731
        rows = [r for r in store.engine.connect().exec_driver_sql('SELECT _pb FROM "WideVideo"')]
        blobs = [r[0] for r in rows]
        decode_only = lambda: [codec.pb_to_entity(WideVideo, b) for b in blobs]  # noqa: E731
        assert len(ours()) == 50 and len(peer_full(engine)()) == 50
        t = side_by_side(
            {
                "orm_ext fetch(50)": ours,
                "orm_ext decode only": decode_only,
                "orm_ext plain text": lambda: PlainVideo.query().fetch(50),
                "SQLAlchemy ORM select": peer_full(engine),
            },
            args.repeats,
        )
        ours_ms = t["orm_ext fetch(50)"] * 1e3
        peer_ms = t["SQLAlchemy ORM select"] * 1e3
        print(
            "Full fetch, 50 entities x 60 mixed properties, SQLite (medians of",
            args.repeats,
            "interleaved runs)",
        )
        print(f"  orm_ext   Video.query().fetch(50)       {ours_ms:7.3f} ms")
        print(
            f"    of which protobuf decode               {t['orm_ext decode only'] * 1e3:7.3f} ms"
        )
        print(f"  SQLAlchemy ORM select(WideRow).limit(50) {peer_ms:7.3f} ms")
        print(
            f"  ratio orm_ext / SQLAlchemy ORM           {ours_ms / peer_ms:7.2f}  (goal <= 1.00)"
        )
        plain_ms = t["orm_ext plain text"] * 1e3
        print(f"  orm_ext, the 3 texts stored uncompressed {plain_ms:7.3f} ms")
        print(
            f"  ratio of that / SQLAlchemy ORM           {plain_ms / peer_ms:7.2f}  (the peer's data)"
        )
        print("  what each part costs when decoded (ms per 50 entities; * waits for a read):")
        for part, ms in breakdown(blobs, max(50, args.repeats // 3)).items():
            count = next((n for p, n, _ in MIX if p == part), None)
            label = "protobuf parse (upb)" if part == "parse" else f"{count:2d} {LABELS[part]}"
            deferred = " *" if part in ("j", "t") else ""
            print(f"    {label:26s} {ms:7.3f}{deferred}")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(200):
                ours()
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
        store.close()
        engine.dispose()


if __name__ == "__main__":
    main()
