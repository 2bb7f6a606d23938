"""protolens: decode only what you read.

Entities stored as protobuf behind an ndb-style ORM on SQLAlchemy, with a
projection extension, Celery fan-out pipelines and a request profiler.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

TESTS = [
    "pytest>=8",
    "hypothesis>=6.100",
    "playwright>=1.45",
]

setup(
    name="protolens",
    version="0.1.0",
    description="Decode only what you read: a protobuf entity ORM on SQLAlchemy with projection.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # Namespace packages, so template and static folders ship as package data.
    packages=find_namespace_packages(
        include=["orm_ext*", "middleware*", "pipelines_lib*", "example_app*"]
    ),
    package_data={"": ["*.proto", "*.pyi", "*.html", "*.css", "*.js", "*.svg", "*.png"]},
    install_requires=[
        "sqlalchemy>=2.0.30",
        "protobuf>=7.35.1,<8",
        "wrapt>=1.16",
    ],
    extras_require={
        "postgres": ["psycopg[binary]>=3.1.18"],
        "mysql": ["pymysql>=1.1"],
        "django": ["django>=5.2,<5.3"],
        "celery": ["celery[redis]>=5.4", "redis>=5.0"],
        # The ndb adapters: each library in an environment of its own (see tox.ini).
        "appengine": ["appengine-python-standard>=3.1,<4", "urllib3<2"],
        "cloud-ndb": ["google-cloud-ndb>=2.3,<3"],
        "dev": [
            "psycopg[binary]>=3.1.18",
            "pymysql>=1.1",
            "django>=5.2,<5.3",
            "celery[redis]>=5.4",
            "redis>=5.0",
            "grpcio-tools>=1.62",
            "ruff>=0.17,<0.18",  # a new ruff may bring new rules: upgrade on purpose
            *TESTS,
        ],
    },
)
