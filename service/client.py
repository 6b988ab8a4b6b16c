"""The Python client of the HTTP API, kept importable here for existing users.

It lives in the ``alsosee_client`` package (``client/`` of the repository), which needs only
``requests``: install the ``alsosee-client`` distribution alone in a CMS back end.
"""

import alsosee_client as _client

# Every name of the module (classes, helpers such as quote_id), not only its __all__.
globals().update({k: v for k, v in vars(_client).items() if not k.startswith("__")})
__all__ = list(_client.__all__)
