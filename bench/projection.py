"""Projection: 50 entities x 60 mixed properties, 15 wanted, side by side.

(a) full fetch, (b) the same fetch inside ``projection(WideVideo, *15 names)``,
(c) the floor: entities that only have those 15 properties, (d) the peer:
SQLAlchemy's ORM ``load_only`` of the same 15 columns of a 60-column table,
(e) a lazy fetch (``orm_ext.lazy()``) of all 60, then reading those 15.
All on SQLite, medians over interleaved repeats.

Run: .venv/bin/python bench/projection.py [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _wide import NAMES, WANTED, NarrowVideo, WideVideo, fill, peer_load_only, side_by_side

import orm_ext
from orm_ext import projection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    projection.install()
    with tempfile.TemporaryDirectory() as tmp:
        store, engine = fill(f"sqlite:///{tmp}/bench.db")

        def full() -> list:
            return WideVideo.query().fetch(50)

        def projected() -> list:
            with projection(WideVideo, *WANTED):
                return WideVideo.query().fetch(50)

        def floor() -> list:
            return NarrowVideo.query().fetch(50)

        def lazy_read() -> list:
            with orm_ext.lazy():
                videos = WideVideo.query().fetch(50)
            for video in videos:
                for name in WANTED:
                    getattr(video, name)
            return videos

        def read(videos: list, names: list[str]) -> list:
            for video in videos:
                for name in names:
                    getattr(video, name)
            return videos

        def projected_read() -> list:
            videos = projected()
            for video in videos:
                for name in WANTED:
                    getattr(video, name)
            return videos

        check = projected()
        assert len(check) == 50 and set(check[0]._projection) == set(WANTED)
        assert all(getattr(check[0], n) == getattr(full()[0], n) for n in WANTED)
        t = side_by_side(
            {
                "a": full,
                "b": projected,
                "c": floor,
                "d": peer_load_only(engine),
                "e": lazy_read,
                "b+read": projected_read,
                "a+read15": lambda: read(full(), WANTED),
                "a+read60": lambda: read(full(), NAMES),
            },
            args.repeats,
        )
        ms = {k: v * 1e3 for k, v in t.items()}
        print(
            f"Projection, 50 entities x 60 mixed properties, 15 wanted, SQLite "
            f"(medians of {args.repeats} interleaved runs)"
        )
        print(f"  (a) full fetch                          {ms['a']:7.3f} ms")
        print(f"  (b) projected fetch                     {ms['b']:7.3f} ms")
        print(f"  (c) floor: entities of only those 15    {ms['c']:7.3f} ms")
        print(f"  (d) SQLAlchemy ORM load_only(15 cols)   {ms['d']:7.3f} ms")
        print(f"  (e) lazy fetch of 60, then read the 15  {ms['e']:7.3f} ms")
        print(f"  (b') projected fetch, then read the 15  {ms['b+read']:7.3f} ms")
        print(f"  (a') full fetch, then read the 15       {ms['a+read15']:7.3f} ms")
        print(f'  (a") full fetch, then read all 60       {ms["a+read60"]:7.3f} ms')
        print(f"  (a)/(b) speed-up of projection          {ms['a'] / ms['b']:7.2f}x  (goal >= 3.5)")
        print(
            f"  (a')/(b') what projection saves code that reads 15 {ms['a+read15'] / ms['b+read']:5.2f}x"
        )
        print(
            f"  (a\")/(b') projected vs. decoding all 60 (the seed's case) {ms['a+read60'] / ms['b+read']:5.2f}x"
        )
        print(f"  (b)/(c) cost over the floor             {ms['b'] / ms['c']:7.2f}   (goal <= 1.3)")
        print(f"  (b)/(d) versus the peer                 {ms['b'] / ms['d']:7.2f}   (goal <= 0.8)")
        print(
            f"  (e)/(b') lazy versus projected          {ms['e'] / ms['b+read']:7.2f}   (goal <= 1.2)"
        )
        print(f"  (a)/(e) speed-up of lazy over full      {ms['a'] / ms['e']:7.2f}x  (goal >= 3)")
        store.close()
        engine.dispose()


if __name__ == "__main__":
    main()
