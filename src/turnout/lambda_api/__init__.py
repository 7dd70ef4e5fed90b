"""The AWS Lambda-compatible API: a thin adapter over the same services as the native ``/v1`` API.

Paths under ``/2015-03-31/`` (functions, versions, aliases, invoke), ``/2017-10-31/`` and
``/2019-09-30/`` (reserved concurrency), ``/2019-09-25/`` (async invocation configs) and
``/2021-10-31/`` (function URL configs); errors in the form botocore parses; SigV4 requests accepted
(see :mod:`.auth`).
"""
