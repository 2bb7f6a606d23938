# The ndb adapters' tests, each in its own virtualenv (included by the Makefile).
# appengine-python-standard needs urllib3<2; google-cloud-ndb pulls a newer
# protobuf/grpc stack; neither belongs in the main .venv.
NDB_TEST_DEPS := 'pytest>=8' 'hypothesis>=6.100' 'wrapt>=1.16'

AE_VENV  := .venv-appengine
AE_STAMP := $(AE_VENV)/.protolens-installed
CN_VENV  := .venv-cloudndb
CN_STAMP := $(CN_VENV)/.protolens-installed

.PHONY: test-appengine test-cloud-ndb test-ndb bench-ndb

$(AE_STAMP): setup.py mk/ndb.mk
	test -x $(AE_VENV)/bin/python || $(PYTHON) -m venv $(AE_VENV)
	$(AE_VENV)/bin/python -m pip install -q --upgrade pip
	$(AE_VENV)/bin/python -m pip install -q -e . 'appengine-python-standard>=3.1,<4' 'urllib3<2' $(NDB_TEST_DEPS)
	touch $@

$(CN_STAMP): setup.py mk/ndb.mk
	test -x $(CN_VENV)/bin/python || $(PYTHON) -m venv $(CN_VENV)
	$(CN_VENV)/bin/python -m pip install -q --upgrade pip
	$(CN_VENV)/bin/python -m pip install -q -e . 'google-cloud-ndb>=2.3,<3' $(NDB_TEST_DEPS)
	touch $@

test-appengine: $(AE_STAMP)
	$(AE_VENV)/bin/python -m pytest -p no:cacheprovider tests/orm_ext/adapters/test_appengine_ndb.py $(PYTEST_ARGS)

test-cloud-ndb: $(CN_STAMP)
	$(CN_VENV)/bin/python -m pytest -p no:cacheprovider tests/orm_ext/adapters/test_cloud_ndb.py $(PYTEST_ARGS)

test-ndb: test-appengine test-cloud-ndb

bench-ndb: $(AE_STAMP)
	$(AE_VENV)/bin/python bench/ndb.py
