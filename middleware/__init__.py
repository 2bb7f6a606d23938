"""Request profiling for Django and WSGI: database vs. decode time, and the projection that pays."""
