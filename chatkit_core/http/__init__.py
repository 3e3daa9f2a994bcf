"""HTTP: the Litestar app, its routes, the mapping of the conversation's errors to HTTP errors,
headers, the client's address, the rate-limit guard, the built-in middleware and the console.

The only package that imports Litestar. It stands on a built :class:`~chatkit_core.platform.
runtime.Runtime` and calls into :mod:`chatkit_core.chat`.
"""
