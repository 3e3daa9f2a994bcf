"""The upload routes and a question's attachments over HTTP: limits, errors, who may read an
attachment back, the rate limit, and uploads switched off."""

from __future__ import annotations

import time

from tests.uploads.conftest import CANNED, corpus, new_session, upload

SMALL = CANNED.replace("enabled = true", "enabled = true\nmax_bytes = 2048\nmax_per_message = 2\nmax_per_session = 3\n"
                       "types = [\"png\", \"text\"]")

TOO_LARGE = "The file is too large. Please send one under 2 KB."


async def test_the_widget_learns_what_it_may_send(client, make_client) -> None:
    info = (await client.get("/api/uploads")).json()
    assert info["enabled"] is True and info["maxBytes"] == 10 * 1024 * 1024 and info["maxPerMessage"] == 4
    assert "image/jpeg" in info["types"] and ".pdf" in info["accept"]
    async with make_client(SMALL) as small:
        info = (await small.get("/api/uploads")).json()
        assert info["types"] == ["image/png", "text/plain"] and info["accept"] == "image/png,text/plain,.png,.txt"
    async with make_client(CANNED.replace("enabled = true", "enabled = false")) as off:
        assert (await off.get("/api/uploads")).json() == {"enabled": False, "types": [], "accept": "", "maxBytes": 0,
                                                          "maxPerMessage": 0}


async def test_limits_are_refused_with_sentences_naming_them(make_client) -> None:
    async with make_client(SMALL) as client:
        session = await new_session(client)
        too_big = await upload(client, session, "notes.txt", b"a" * 4096)
        huge = await upload(client, session, "notes.txt", b"a" * 200_000)  # past the body's limit too
        for response in (too_big, huge):
            assert response.status_code == 413 and response.json()["error"] == {"code": "body_too_large", "limit": 2048,
                                                                                "message": TOO_LARGE}
        pdf = await upload(client, session, "invoice.pdf", corpus("invoice-javascript.pdf"))
        assert pdf.status_code == 415 and "Accepted: PNG, text." in pdf.json()["error"]["message"]
        empty = await upload(client, session, "empty.txt", b"")
        assert empty.status_code == 400 and empty.json()["error"]["field"] == "file"
        ids = [(await upload(client, session, f"n{i}.txt", b"note")).json()["attachment"]["id"] for i in range(3)]
        fourth = await upload(client, session, "n4.txt", b"note")
        assert fourth.status_code == 400 and fourth.json()["error"]["code"] == "too_many_attachments"
        assert "already holds 3 attachments" in fourth.json()["error"]["message"]
        chat = await client.post("/api/chat", json={"sessionId": session, "message": "Read these", "attachments": ids})
        assert chat.status_code == 400 and chat.json()["error"]["code"] == "too_many_attachments"
        assert "at most 2 files" in chat.json()["error"]["message"]


async def test_only_one_file_in_the_field_file_as_multipart(client) -> None:
    session = await new_session(client)
    url = f"/api/session/{session}/attachments"
    json_body = await client.post(url, json={"file": "aGVsbG8="})
    assert json_body.status_code == 415 and "multipart/form-data" in json_body.json()["error"]["message"]
    two = await client.post(url, files=[("file", ("a.txt", b"one")), ("file", ("b.txt", b"two"))])
    other_field = await client.post(url, files={"document": ("a.txt", b"one")})
    extra_field = await client.post(url, files={"file": ("a.txt", b"one")}, data={"note": "hi"})
    for response in (two, other_field, extra_field):
        assert response.status_code == 400 and response.json()["error"]["field"] == "file", response.text
    broken = await client.post(url, content=b"--x\r\nnot a form", headers={
        "Content-Type": "multipart/form-data; boundary=x"})
    assert broken.status_code == 400


async def test_an_attachment_is_its_conversations_alone(client) -> None:
    mine, theirs = await new_session(client), await new_session(client)
    attachment = (await upload(client, mine, "notes.txt", b"My order number is 5512.")).json()["attachment"]
    assert (await client.get(f"/api/session/{mine}/attachments/{attachment['id']}")).status_code == 200
    stolen = await client.get(f"/api/session/{theirs}/attachments/{attachment['id']}")
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "attachment_not_found"
    borrowed = await client.post("/api/chat", json={"sessionId": theirs, "message": "What does it say?",
                                                    "attachments": [attachment["id"]]})
    assert borrowed.status_code == 400 and borrowed.json()["error"]["field"] == "attachments"
    unknown = await upload(client, "no-such-session", "notes.txt", b"hello")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "session_not_found"


async def test_the_question_keeps_its_attachments_and_the_answer_says_what_was_used(client) -> None:
    session = await new_session(client)
    photo = (await upload(client, session, "part.png", corpus("metadata.png"))).json()["attachment"]
    notes = (await upload(client, session, "notes.txt", b"Serial 7781")).json()["attachment"]
    reply = await client.post("/api/chat", json={"sessionId": session, "message": "Which part is this?",
                                                 "attachments": [photo["id"], notes["id"]]})
    assert reply.status_code == 200, reply.text
    used = {item["name"]: item["used"] for item in reply.json()["message"]["attachments"]}
    assert used == {"part.png": "none", "notes.txt": "whole"}  # the canned provider reads text only
    history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    assert history[0]["attachments"] == [photo, notes] and "used" not in history[0]["attachments"][0]


async def test_erasing_the_conversation_erases_its_attachments(client) -> None:
    session = await new_session(client)
    attachment = (await upload(client, session, "notes.txt", b"Private note")).json()["attachment"]
    assert (await client.delete(f"/api/session/{session}")).status_code == 204
    gone = await client.get(f"/api/session/{session}/attachments/{attachment['id']}")
    assert gone.status_code == 404


async def test_uploads_count_against_the_chat_rate_limit(make_client) -> None:
    limited = CANNED.replace('[rate_limit]\ntype = "none"', '[rate_limit]\ntype = "limits"\nstorage = "memory://"\n'
                             'strategy = "fixed-window"\nper_ip = ["1000/minute"]\nper_session = ["2/minute"]')
    async with make_client(limited) as client:
        session = await new_session(client)
        assert (await upload(client, session, "a.txt", b"one")).status_code == 201
        assert (await client.post("/api/chat", json={"sessionId": session, "message": "Hi"})).status_code == 200
        started = time.monotonic()
        refused = await upload(client, session, "b.txt", b"x" * 1_000_000)
        assert refused.status_code == 429 and refused.headers["retry-after"]
        assert time.monotonic() - started < 5  # refused before the file was read or converted


async def test_with_uploads_off_there_is_nothing_to_upload_to(make_client) -> None:
    async with make_client(CANNED.replace("enabled = true", "enabled = false")) as client:
        session = await new_session(client)
        assert (await upload(client, session, "a.txt", b"one")).status_code == 404
        chat = await client.post("/api/chat", json={"sessionId": session, "message": "Hi",
                                                    "attachments": ["att_AAAAAAAAAAAAAAAA"]})
        assert chat.status_code == 400 and "does not accept attachments" in chat.json()["error"]["message"]


async def test_files_alone_make_a_message_and_nothing_at_all_does_not(client) -> None:
    session = await new_session(client)
    notes = (await upload(client, session, "notes.txt", b"Serial 7781")).json()["attachment"]
    for text in ("", "  ", "<b></b>"):  # no text, blank, or nothing left once cleaned: the file is the question
        reply = await client.post("/api/chat", json={"sessionId": session, "message": text,
                                                     "attachments": [notes["id"]]})
        assert reply.status_code == 200, reply.text
        assert reply.json()["message"]["attachments"][0]["used"] == "whole"
    history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
    asked = [m for m in history if m["role"] == "user"]
    assert [m["content"] for m in asked] == ["", "", ""] and all(m["attachments"] == [notes] for m in asked)
    empty = await client.post("/api/chat", json={"sessionId": session, "message": " "})
    assert empty.status_code == 400 and empty.json()["error"]["message"] == "Please type a message first."
    markup = await client.post("/api/chat", json={"sessionId": session, "message": "<b></b>", "attachments": []})
    assert markup.status_code == 400 and "no text left" in markup.json()["error"]["message"]
    gone = await client.post("/api/chat", json={"sessionId": session, "message": "",
                                                "attachments": ["att_AAAAAAAAAAAAAAAA"]})
    assert gone.status_code == 400 and gone.json()["error"]["field"] == "attachments"
    too_long = await client.post("/api/chat", json={"sessionId": session, "message": "x" * 100_000,
                                                    "attachments": [notes["id"]]})
    assert too_long.status_code in (400, 413)
