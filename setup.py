from setuptools import find_packages, setup

# Every dependency is pinned so that `pip install .` on a fresh machine reproduces the
# environment the test suite ran in.
INSTALL_REQUIRES = [
    "Flask==3.1.3",
    "SQLAlchemy==2.1.9",
    "alembic==1.20.1",
    "gevent==26.9.0",
    "cryptography==48.0.0",
    "urllib3==2.8.0",
    "requests==2.34.2",
]

EXTRAS_REQUIRE = {
    "mysql": ["PyMySQL==1.2.4"],
    "test": [
        "pytest==9.0.3",
        "pytest-timeout==2.4.0",
        "freezegun==1.5.5",
        "hypothesis==6.155.2",
        "cs==5.2.0",
        "apache-libcloud==3.9.1",
        "standardwebhooks==1.1.0",
        "PyMySQL==1.2.4",
    ],
    "lint": ["ruff==0.17.6"],
    "typing": ["mypy==2.4.1", "types-requests"],
}

setup(
    name="csapi",
    version="0.1.0",
    description="A CloudStack-compatible API server with durable, signed webhooks",
    python_requires=">=3.11",
    # The Alembic scripts live in db/upgrade/ and ship inside the package as csapi.migrations,
    # so an installed csapi can upgrade any database without the source tree.
    packages=find_packages(include=["csapi", "csapi.*"])
    + ["csapi.migrations", "csapi.migrations.versions"],
    package_dir={"csapi.migrations": "db/upgrade"},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["csapi = csapi.cli:main"]},
)
