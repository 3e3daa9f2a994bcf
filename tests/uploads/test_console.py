"""Operators see a conversation's attachments in the console: images as thumbnails, documents as
their text to download, behind the console's sign-in, and nothing a browser would run."""

from __future__ import annotations

from tests.console.helpers import ADMIN, sign_in
from tests.uploads.conftest import CANNED, app_client, corpus, new_session, upload


async def test_the_transcript_shows_thumbnails_and_downloads() -> None:
    async with app_client(CANNED + ADMIN) as client:
        session = await new_session(client)
        photo = (await upload(client, session, "part<b>.png", corpus("metadata.png"))).json()["attachment"]
        invoice = (await upload(client, session, "invoice.pdf", corpus("invoice-javascript.pdf"))).json()["attachment"]
        await client.post("/api/chat", json={"sessionId": session, "message": "Is this covered?",
                                             "attachments": [photo["id"], invoice["id"]]})
        base = f"/admin/conversations/{session}/attachments"
        assert (await client.get(f"{base}/{photo['id']}", follow_redirects=False)).status_code in (302, 303, 307)

        await sign_in(client)
        page = (await client.get(f"/admin/conversations/{session}")).text
        assert f'<img class="thumb" src="{base}/{photo["id"]}" alt="part_b_.png"' in page
        assert f'href="{base}/{invoice["id"]}" download>invoice.pdf</a>' in page
        assert "part.png: not seen" not in page and "part_b_.png: not seen (the model reads text only)" in page
        image = await client.get(f"{base}/{photo['id']}")
        assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
        assert image.headers["content-disposition"].startswith('attachment; filename="part_b_.png"')
        text = await client.get(f"{base}/{invoice['id']}")
        assert text.headers["content-type"] == "application/octet-stream"
        assert text.headers["content-disposition"].startswith('attachment; filename="invoice.pdf.txt"')
        assert text.headers["x-content-type-options"] == "nosniff" and "script-src 'self'" in text.headers[
            "content-security-policy"]
        assert text.content == b"Invoice 2041: total 129.00 EUR"
        assert (await client.get(f"{base}/att_AAAAAAAAAAAAAAAA")).status_code == 404


async def test_files_sent_while_a_person_holds_the_conversation_reach_that_person() -> None:
    from tests.handoff.conftest import OPERATOR, handoff_config

    async with app_client(handoff_config(base=CANNED)) as client:
        session = await new_session(client)
        asked = await client.post(f"/api/session/{session}/handoff", json={"message": "A person, please"})
        cid = asked.json()["handoff"]["conversationId"]
        assert (await client.post(f"/admin/api/handoffs/{cid}/claim", json={"operator": "Alice"},
                                  headers=OPERATOR)).status_code == 200
        photo = (await upload(client, session, "scratch.png", corpus("metadata.png"))).json()["attachment"]
        held = await client.post("/api/chat", json={"sessionId": session, "message": "",
                                                    "attachments": [photo["id"]]})
        assert held.status_code == 202, held.text
        assert [a["id"] for a in held.json()["message"]["attachments"]] == [photo["id"]]
        history = (await client.get(f"/api/session/{session}/messages")).json()["messages"]
        assert history[-1]["role"] == "user" and history[-1]["attachments"][0]["name"] == "scratch.png"
        other = await new_session(client)
        theirs = (await upload(client, other, "theirs.txt", b"Not yours.")).json()["attachment"]
        borrowed = await client.post("/api/chat", json={"sessionId": session, "message": "Look",
                                                        "attachments": [theirs["id"]]})
        assert borrowed.status_code == 400 and borrowed.json()["error"]["field"] == "attachments"
        await sign_in(client)
        page = (await client.get(f"/admin/conversations/{session}")).text
        assert f'src="/admin/conversations/{session}/attachments/{photo["id"]}"' in page
