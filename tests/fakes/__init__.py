"""Fake model upstreams: real HTTP servers on loopback speaking Ollama's and OpenAI's wire formats.

    from tests.fakes.llama import FakeLlama           # slots and a shared context, like llama-server
    from tests.fakes.ollama import FakeOllama
    from tests.fakes.openai import FakeOpenAI
    from tests.fakes.server import Script, closed_port_url

    with FakeOllama() as ollama:                      # also FakeOpenAI(api_key=..., models=[...])
        ollama.default = Script(text="Hi", chunk_delay=0.05)
        ollama.script(Script(status=503), Script(fault="cut", after=2))   # next two chat requests
        ...                                            # base URL: ollama.url (OpenAI: fake.url + "/v1")
        ollama.chat_requests()[0].json                 # what the client sent
        ollama.wait_disconnect(timeout=2)              # a client left mid-response

``Script`` fields: ``text``, ``chunks`` (pieces; default word by word), ``latency`` (before
headers), ``first_chunk_delay``, ``chunk_delay``, ``status``/``error``/``retry_after`` (an HTTP
error with the upstream's own error body), ``fault`` with ``after`` (chunks sent first):
``hang``, ``stall``, ``cut``, ``end`` (body ends without the done marker), ``malformed``,
``error`` (in-band error frame); ``finish`` (``finish_reason``/``done_reason``; a request's
``max_tokens``/``num_predict`` cap ends the answer early with ``length``).
``closed_port_url()`` is a URL that refuses connections.
"""
