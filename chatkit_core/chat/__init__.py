"""The conversation: a turn (question stored, passages found, the chain answering, the answer
saved), the provider chain, and the contracts plugins implement (providers, session stores,
retrievers, rate limiters, caches, sanitizers).

Nothing here knows HTTP or how the app is assembled: it imports no Litestar and nothing from
``chatkit_core.http`` or ``chatkit_core.platform``; it is given what it uses and raises its own
errors (:mod:`chatkit_core.chat.errors`).
"""
