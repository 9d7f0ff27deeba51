"""A small but faithful Telegram Bot API server on loopback, for driving the real bot: the tests
run it against this server, and ``dora bench bot`` loads it with simulated users through it.

The bot runs unmodified: aiogram is pointed here with
``TelegramAPIServer.from_base(server.base_url)`` and speaks the real wire protocol to it —
``POST {base}/bot{token}/{method}`` with multipart/form-data, url-encoded or JSON bodies (nested
objects JSON-encoded as strings, files as multipart parts referenced by ``attach://``), answers
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "..."}``, and
files at ``GET {base}/file/bot{token}/{file_path}``. Results are shaped so aiogram's pydantic
types validate them, because aiogram validates every answer.

Faithful where bots usually break in production, because a lenient fake hides exactly those bugs:

- text limits are counted the way Telegram counts them: UTF-16 code units of the text *after*
  entity parsing and trimming (4096 for messages, 1024 for captions); HTML, MarkdownV2 and legacy
  Markdown are parsed like Telegram's parser (tdlib), with its error texts ("can't parse entities:
  Unsupported start tag "br" at byte offset 5");
- an edit to the same content is "message is not modified", an edit of a message that is not
  there is "message to edit not found", callback_data over 64 bytes is BUTTON_DATA_INVALID;
- a chat the bot has never seen is "chat not found" (a user must write first, or be added with
  :meth:`BotAPIServer.add_user`), a blocked user answers 403;
- updates stay queued until confirmed with a higher ``offset`` (a bot that stops polling gets the
  last batch again, like on Telegram), ``allowed_updates`` is a sticky setting applied when an
  update is created, a second ``getUpdates`` terminates a waiting one with 409, an active webhook
  makes ``getUpdates`` a 409;
- with a webhook set, queued updates are POSTed to it the way Telegram does: the update as a JSON
  body, the ``X-Telegram-Bot-Api-Secret-Token`` header when a secret was set, up to
  ``max_connections`` (default 40) requests at once; an update leaves the queue only on a 2xx
  answer, anything else (or no answer) is retried with a growing delay and shows in
  ``getWebhookInfo``'s ``last_error_message``. Two choices Telegram does not document: one update
  per chat is in flight at a time (a chat's updates arrive in order), and the answer's body is
  ignored (Telegram would run a method sent back in it). Two relaxations, because this server is
  for loopback only: ``http://`` is accepted for a loopback host (Telegram wants HTTPS on port 443,
  80, 88 or 8443), and a webhook on any other host is accepted but never called (nothing here
  connects outside the machine; its updates stay queued).

Every request is recorded as a :class:`Call` (unknown methods too, answered 404, so a test notices
a method this server does not know rather than passing silently); :meth:`BotAPIServer.on_call`
hands each one to a listener as it is recorded (a load test collecting replies without polling).
Faults are injected with :meth:`BotAPIServer.fail_next` (429 with ``retry_after``, 5xx, anything).

Where Telegram's exact error text is not documented, the descriptions here follow Telegram's style
(``Bad Request: UPPER_CASE_CODE``); tests should match on the documented parts only.

aiohttp in a background thread with its own event loop, so plain synchronous tests can use it
while the bot runs in another thread, loop or process; ``astart``/``astop`` run it on the
caller's loop instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import inspect
import io
import ipaddress
import json
import logging
import mimetypes
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

__all__ = [
    "DEFAULT_GROUP_ID",
    "DEFAULT_TOKEN",
    "BotAPIServer",
    "Call",
    "EntityParseError",
    "parse_text",
    "utf16_len",
]

log = logging.getLogger(__name__)

# Shaped like a real token (aiogram validates the shape), valid nowhere.
DEFAULT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
DEFAULT_GROUP_ID = -1001000000001

MESSAGE_MAX = 4096
# Bot API methods that send one file of a kind; each is _send_media for its kind.
_MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendVoice": "voice",
    "sendAudio": "audio",
    "sendVideo": "video",
    "sendAnimation": "animation",
    "sendSticker": "sticker",
    "sendVideoNote": "video_note",
}
CAPTION_MAX = 1024
CALLBACK_DATA_MAX = 64
WEBHOOK_CONNECTIONS = 40  # Telegram's default max_connections
WEBHOOK_TIMEOUT_S = 60.0  # how long a webhook request may take before it counts as failed
WEBHOOK_RETRY_MAX_S = 60.0  # the longest pause between retries of one update
DOWNLOAD_MAX = 20 * 1024 * 1024  # getFile refuses bigger files
UPLOAD_MAX = 50 * 1024 * 1024


def _words(text: str) -> frozenset[str]:
    """A set of names written as one space-separated string (long lists stay readable)."""
    return frozenset(text.split())


_SEND_METHODS = _words(
    "sendMessage sendPhoto sendDocument sendVoice sendAudio sendVideo sendAnimation sendSticker "
    "sendVideoNote sendLocation sendInvoice"
)
_EDIT_METHODS = _words("editMessageText editMessageCaption editMessageMedia editMessageReplyMarkup")
MESSAGE_METHODS = _SEND_METHODS | _EDIT_METHODS

# All update types but these three are delivered when allowed_updates is empty or never set.
_ALL_UPDATE_TYPES = _words(
    "message edited_message channel_post edited_channel_post business_connection business_message "
    "edited_business_message deleted_business_messages message_reaction message_reaction_count "
    "inline_query chosen_inline_result callback_query shipping_query pre_checkout_query "
    "purchased_paid_media poll poll_answer my_chat_member chat_member chat_join_request chat_boost "
    "removed_chat_boost"
)
_DEFAULT_UPDATE_TYPES = _ALL_UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}

# Form fields that are free text: never JSON-decoded, so a text "123" or "true" stays a string.
_STRING_PARAMS = _words(
    "text caption data payload title description short_description name parse_mode caption_parse_mode "
    "url callback_query_id pre_checkout_query_id shipping_query_id inline_query_id "
    "telegram_payment_charge_id error_message start_parameter provider_token currency photo_url "
    "secret_token ip_address emoji message_effect_id business_connection_id inline_message_id file_id "
    "action language_code photo document voice audio video animation sticker video_note thumbnail "
    "cover performer question address first_name last_name phone_number vcard custom_title filename "
    "file_name"
)
# Fields that are JSON even when a JSON body carries them as an encoded string.
_JSON_PARAMS = _words(
    "reply_markup entities caption_entities prices allowed_updates commands scope media "
    "reply_parameters link_preview_options suggested_tip_amounts message_ids reaction menu_button"
)
_INLINE_ACTIONS = _words(
    "url callback_data web_app login_url switch_inline_query switch_inline_query_current_chat "
    "switch_inline_query_chosen_chat copy_text callback_game pay"
)
_CHAT_ACTIONS = _words(
    "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
    "choose_sticker find_location record_video_note upload_video_note"
)
_MEDIA_KEYS = ("photo", "document", "voice", "audio", "video", "animation", "sticker", "video_note")
# How Telegram names file kinds in "can't use file of type X as Y".
_KIND_TITLE = {
    "photo": "Photo",
    "document": "Document",
    "voice": "Voice",
    "audio": "Audio",
    "video": "Video",
    "animation": "Animation",
    "sticker": "Sticker",
    "video_note": "VideoNote",
}
_FILE_DIRS = {
    "photo": ("photos", ".jpg"),
    "document": ("documents", ""),
    "voice": ("voice", ".oga"),
    "audio": ("music", ".mp3"),
    "video": ("videos", ".mp4"),
    "animation": ("animations", ".mp4"),
    "sticker": ("stickers", ".webp"),
    "video_note": ("video_notes", ".mp4"),
}
_FILE_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}
_PHOTO_BOXES = (90, 320, 800, 1280, 2560)  # Telegram's s, m, x, y, w sizes

# What every method handler gets: decoded params, uploaded files and their filenames by part name.
_Params = dict[str, Any]
_Files = dict[str, bytes]
_Names = dict[str, str]


# --------------------------------------------------------------------------------------------
# Text: UTF-16 lengths and Telegram's three markups


class EntityParseError(ValueError):
    """Markup Telegram refuses; ``str()`` is the part after "Bad Request: can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what Telegram's limits and entity offsets count (😀 is 2)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, pos: int) -> int:
    """Telegram's error texts point into the UTF-8 bytes of the original text."""
    return len(text[:pos].encode())


@dataclass
class _Open:
    """An entity whose end tag or closing mark has not been seen yet."""

    kind: str
    offset: int  # UTF-16 offset in the plain text
    pos: int  # index in the marked-up source, for error texts
    out_index: int = 0  # index into the output pieces, to recover the entity's own text
    attrs: dict[str, str] = field(default_factory=dict)


class _Plain:
    """Plain text being assembled, with its running UTF-16 length for entity offsets."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.u16 = 0

    def add(self, s: str) -> None:
        self.pieces.append(s)
        self.u16 += utf16_len(s)

    def since(self, index: int) -> str:
        return "".join(self.pieces[index:])

    def text(self) -> str:
        return "".join(self.pieces)


def _entity(kind: str, offset: int, length: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "offset": offset, "length": length, **{k: v for k, v in extra.items() if v}}


def _normalize_url(url: str) -> str:
    """Telegram makes a bare ``example.com`` into ``http://example.com``."""
    url = url.strip()
    if not url or "://" in url or url.startswith(("tg:", "mailto:")):
        return url
    return "http://" + url


_HTML_TAGS = _words("a b strong i em s strike del u ins tg-spoiler span tg-emoji tg-time pre code blockquote")
_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}  # the only named entities supported


def _decode_html_entity(text: str, i: int) -> tuple[str, int] | None:
    """``&lt;`` / ``&#65;`` / ``&#x41;`` at ``text[i]``; None leaves the ``&`` as a literal."""
    end = text.find(";", i + 1, i + 12)
    if end < 0:
        return None
    name = text[i + 1 : end]
    if name.startswith("#"):
        digits, base = (name[2:], 16) if name[1:2] in ("x", "X") else (name[1:], 10)
        try:
            code = int(digits, base)
        except ValueError:
            return None
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), end + 1
    ch = _HTML_NAMED.get(name)
    return (ch, end + 1) if ch else None


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML style, with tdlib's checks and error texts."""
    out, stack, entities = _Plain(), list[_Open](), list[dict[str, Any]]()
    i, n = 0, len(text)

    def fail(message: str) -> EntityParseError:
        return EntityParseError(message)

    while i < n:
        c = text[i]
        if c == "&" and (decoded := _decode_html_entity(text, i)):
            out.add(decoded[0])
            i = decoded[1]
            continue
        if c != "<":
            out.add(c)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":  # an end tag
            i += 1
            start = i
            while i < n and not text[i].isspace() and text[i] != ">":
                i += 1
            name = text[start:i].lower()
            while i < n and text[i].isspace():
                i += 1
            if i >= n or text[i] != ">":
                raise fail(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            i += 1
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            top = stack.pop()
            if name and name != top.kind:
                raise fail(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{top.kind}>", found "</{name}>"'
                )
            _close_html(top, out, entities)
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] != ">":
            i += 1
        if i >= n:
            raise fail(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        name = text[start:i].lower()
        if name not in _HTML_TAGS:
            raise fail(f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}')
        attrs: dict[str, str] = {}
        unclosed = f'Unclosed start tag "{name}" at byte offset {_byte_offset(text, begin)}'
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(unclosed)
            if text[i] == ">":
                i += 1
                break
            start = i
            while i < n and not text[i].isspace() and text[i] not in "=>/\"'":
                i += 1
            attr = text[start:i].lower()
            if not attr:
                raise fail(
                    f'Empty attribute name in the tag "{name}" at byte offset {_byte_offset(text, begin)}'
                )
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(unclosed)
            if text[i] != "=":  # a bare attribute, like <blockquote expandable>
                attrs.setdefault(attr, "")
                continue
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(unclosed)
            if text[i] in "\"'":
                quote, i = text[i], i + 1
                value: list[str] = []
                while i < n and text[i] != quote:
                    if text[i] == "&" and (decoded := _decode_html_entity(text, i)):
                        value.append(decoded[0])
                        i = decoded[1]
                        continue
                    value.append(text[i])
                    i += 1
                if i >= n:
                    raise fail(unclosed)
                i += 1
                attrs.setdefault(attr, "".join(value))
            else:
                start = i
                while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                    i += 1
                if i >= n:
                    raise fail(unclosed)
                if not text[i].isspace() and text[i] != ">":
                    raise fail(f"Unexpected end of name token at byte offset {_byte_offset(text, i)}")
                attrs.setdefault(attr, text[start:i].lower())
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}')
        stack.append(_Open(name, out.u16, begin, len(out.pieces), attrs))
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1].kind}"')
    return out.text(), entities


def _close_html(top: _Open, out: _Plain, entities: list[dict[str, Any]]) -> None:
    """The entity an HTML element makes, if it covers any text (empty ones vanish, like on Telegram)."""
    length = out.u16 - top.offset
    if length <= 0:
        return
    tag, attrs = top.kind, top.attrs
    if tag in _HTML_SIMPLE:
        entities.append(_entity(_HTML_SIMPLE[tag], top.offset, length))
    elif tag == "a":
        url = _normalize_url(attrs.get("href") or out.since(top.out_index))
        if url:
            entities.append(_entity("text_link", top.offset, length, url=url))
    elif tag == "code":
        language = attrs.get("class", "")
        language = language[len("language-") :] if language.startswith("language-") else ""
        entities.append(_entity("code", top.offset, length, language=language))
    elif tag == "pre":
        last = entities[-1] if entities else None
        if last and last["type"] == "code" and (last["offset"], last["length"]) == (top.offset, length):
            last["type"] = "pre"  # <pre><code class="language-x"> is one pre entity with a language
        else:
            entities.append(_entity("pre", top.offset, length))
    elif tag == "blockquote":
        kind = "expandable_blockquote" if "expandable" in attrs else "blockquote"
        entities.append(_entity(kind, top.offset, length))
    elif tag == "tg-emoji":
        emoji_id = attrs.get("emoji-id", "")
        if not emoji_id.isdigit():
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(_entity("custom_emoji", top.offset, length, custom_emoji_id=emoji_id))
    elif tag == "tg-time":
        unix = attrs.get("unix", "")
        if unix.isdigit():
            entities.append(
                _entity(
                    "date_time",
                    top.offset,
                    length,
                    unix_time=int(unix),
                    date_time_format=attrs.get("format"),
                )
            )


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _mdv2_closes(kind: str, text: str, i: int) -> int:
    """How many characters at ``text[i]`` close an open MarkdownV2 entity of this kind (0: none)."""
    c, nxt = text[i], text[i + 1 : i + 2]
    if kind == "bold" and c == "*":
        return 1
    if kind == "italic" and c == "_" and nxt != "_":
        return 1
    if kind == "underline" and c == "_" and nxt == "_":
        return 2
    if kind == "strikethrough" and c == "~":
        return 1
    if kind == "spoiler" and c == "|" and nxt == "|":
        return 2
    if kind == "code" and c == "`":
        return 1
    if kind == "pre" and text.startswith("```", i):
        return 3
    if kind in ("text_link", "custom_emoji") and c == "]":
        return 1
    return 0


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's MarkdownV2: every reserved character outside an entity must be escaped."""
    out, stack, entities = _Plain(), list[_Open](), list[dict[str, Any]]()
    quote: _Open | None = None
    i, n, line_start = 0, len(text), True
    while i < n:
        c = text[i]
        in_code = bool(stack) and stack[-1].kind in ("code", "pre")
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            line_start = text[i + 1] == "\n"
            i += 2
            continue
        if c == "\n" and not in_code:
            if quote is not None and not text.startswith(">", i + 1):
                if quote.offset < out.u16:
                    entities.append(_entity("blockquote", quote.offset, out.u16 - quote.offset))
                quote = None
            out.add(c)
            line_start = True
            i += 1
            continue
        if c not in ("`" if in_code else _MDV2_RESERVED):
            out.add(c)
            line_start = line_start and c == "\r"
            i += 1
            continue
        line_start, was_line_start = False, line_start
        if stack and (width := _mdv2_closes(stack[-1].kind, text, i)):
            top = stack.pop()
            i += width
            url = ""
            if top.kind in ("text_link", "custom_emoji"):
                if text.startswith("(", i):
                    chars: list[str] = []
                    j = i + 1
                    while j < n and text[j] != ")":
                        if text[j] == "\\" and j + 1 < n:
                            j += 1
                        chars.append(text[j])
                        j += 1
                    if j >= n:
                        raise EntityParseError(
                            f"Can't find end of a URL at byte offset {_byte_offset(text, i)}"
                        )
                    url, i = "".join(chars), j + 1
                elif top.kind == "text_link":
                    url = out.since(top.out_index)
            length = out.u16 - top.offset
            if top.kind == "custom_emoji":
                match = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                if not match:
                    raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                if length > 0:
                    entities.append(_entity("custom_emoji", top.offset, length, custom_emoji_id=match[1]))
            elif top.kind == "text_link":
                if length > 0 and (url := _normalize_url(url)):
                    entities.append(_entity("text_link", top.offset, length, url=url))
            elif length > 0:
                language = top.attrs.get("language", "")
                entities.append(_entity(top.kind, top.offset, length, language=language))
            continue
        begin = i
        if c == "_" and text.startswith("__", i):
            kind, i = "underline", i + 2
        elif c == "_":
            kind, i = "italic", i + 1
        elif c == "*":
            kind, i = "bold", i + 1
        elif c == "~":
            kind, i = "strikethrough", i + 1
        elif c == "|" and text.startswith("||", i):
            kind, i = "spoiler", i + 2
        elif c == "[":
            kind, i = "text_link", i + 1
        elif c == "!" and text.startswith("![", i):
            kind, i = "custom_emoji", i + 2
        elif c == "`" and text.startswith("```", i):
            kind, i = "pre", i + 3
            language = ""
            if (match := re.match(r"([^\s`]+)\n", text[i:])) is not None:
                language, i = match[1], i + len(match[0])
            elif text.startswith("\n", i):
                i += 1
            stack.append(_Open(kind, out.u16, begin, len(out.pieces), {"language": language}))
            continue
        elif c == "`":
            kind, i = "code", i + 1
        elif c == ">" and was_line_start:
            if quote is None:
                quote = _Open("blockquote", out.u16, begin)
            line_start = False
            i += 1
            continue
        else:
            raise EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        stack.append(_Open(kind, out.u16, begin, len(out.pieces)))
    if stack:
        top = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[top.kind]} entity at byte offset {_byte_offset(text, top.pos)}"
        )
    if quote is not None and quote.offset < out.u16:
        entities.append(_entity("blockquote", quote.offset, out.u16 - quote.offset))
    return out.text(), entities


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out, entities = _Plain(), list[dict[str, Any]]()
    i, n = 0, len(text)
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        begin = i
        unclosed = f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
        if text.startswith("```", i):
            i += 3
            language = ""
            if (match := re.match(r"([^\s`]+)\n", text[i:])) is not None:
                language, i = match[1], i + len(match[0])
            end = text.find("```", i)
            if end < 0:
                raise EntityParseError(unclosed)
            offset = out.u16
            out.add(text[i:end])
            if out.u16 > offset:
                entities.append(_entity("pre", offset, out.u16 - offset, language=language))
            i = end + 3
            continue
        end = text.find("]" if c == "[" else c, i + 1)
        if end < 0:
            raise EntityParseError(unclosed)
        offset = out.u16
        content = text[i + 1 : end]
        out.add(content)
        i = end + 1
        if c == "[":
            url = content
            if text.startswith("(", i):
                close = text.find(")", i)
                if close >= 0:
                    url, i = text[i + 1 : close], close + 1
            if out.u16 > offset and (url := _normalize_url(url)):
                entities.append(_entity("text_link", offset, out.u16 - offset, url=url))
        elif out.u16 > offset:
            entities.append(_entity(kinds[c], offset, out.u16 - offset))
    return out.text(), entities


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram trims leading and trailing whitespace; entities are shifted and clipped to match."""
    core = text.strip()
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(core)
    kept = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            kept.append({**e, "offset": start, "length": end - start})
    kept.sort(key=lambda e: (e["offset"], -e["length"]))
    return core, kept


_COMMAND_RE = re.compile(r"(?<![\w/])/[a-zA-Z0-9_]{1,64}(?:@[a-zA-Z0-9_]{3,32})?(?![\w/])")


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """Bot commands Telegram marks in what users write (``/start`` anywhere, as a word)."""
    return [
        _entity("bot_command", utf16_len(text[: m.start()]), utf16_len(m[0]))
        for m in _COMMAND_RE.finditer(text)
    ]


def parse_text(
    text: str, parse_mode: str | None = None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The plain text and entities Telegram makes of ``text``; raises :class:`EntityParseError`.

    Explicit ``entities`` win over ``parse_mode``, as on Telegram. The result is trimmed; lengths
    are then checked on it with :func:`utf16_len`.
    """
    mode = (parse_mode or "").lower()
    if entities:
        plain, found = text, [dict(e) for e in entities]
    elif mode == "html":
        plain, found = _parse_html(text)
    elif mode == "markdownv2":
        plain, found = _parse_markdown_v2(text)
    elif mode == "markdown":
        plain, found = _parse_markdown(text)
    elif mode:
        raise ValueError(f"unsupported parse_mode {parse_mode!r}")
    else:
        plain, found = text, []
    return _trim(plain, found)


# --------------------------------------------------------------------------------------------
# Records


@dataclass
class Call:
    """One request the bot made, as the server understood it, and what it was answered.

    ``params`` are JSON-decoded where the value is JSON (``reply_markup``, ``prices``, numbers,
    booleans), free-text fields stay strings. ``files`` maps multipart part names to their bytes;
    a file referenced from a top-level field (``photo=attach://x7Gq``) is also under the field's
    name (``files["photo"]``), so tests need not know aiogram's random part names.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = 0.0
    filenames: dict[str, str] = field(default_factory=dict)
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def error(self) -> str | None:
        """The error description ("Bad Request: message is too long"), None when it succeeded."""
        return None if self.ok else self.response.get("description")

    @property
    def chat_id(self) -> Any:
        """The chat the call went to (from the sent message when there is one), else None."""
        return _call_chat(self)

    @property
    def text(self) -> str | None:
        """The text or caption as it arrived on the chat (markup parsed), else as sent."""
        result = self.result
        if isinstance(result, dict) and ("text" in result or "caption" in result):
            return result.get("text", result.get("caption"))
        value = self.params.get("text", self.params.get("caption"))
        return None if value is None else str(value)


class _Fail(Exception):
    """An error answer: status, description and the optional ``parameters`` object."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def _bad(description: str) -> _Fail:
    return _Fail(400, f"Bad Request: {description}")


@dataclass
class _Fault:
    status: int
    description: str
    parameters: dict[str, Any] | None
    times: int


@dataclass
class _File:
    """A file the server holds: what getFile answers and the download serves."""

    file_id: str
    file_unique_id: str
    kind: str
    file_path: str
    data: bytes | None
    file_size: int | None
    mime_type: str | None = None
    file_name: str | None = None
    width: int = 0
    height: int = 0
    url: str | None = None
    group: list[str] = field(default_factory=list)  # a photo's sizes, smallest first


def _default_description(status: int, retry_after: int | None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {retry_after}"
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        413: "Request Entity Too Large",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Error")


def _decode_param(name: str, value: Any) -> Any:
    """Form values are strings; JSON in them is decoded unless the field is free text."""
    if not isinstance(value, str) or (name in _STRING_PARAMS and name not in _JSON_PARAMS):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


# --------------------------------------------------------------------------------------------
# Webhook delivery


@dataclass
class Delivery:
    """One POST of an update to the webhook: ``status`` 0 when no HTTP answer came (refused, timed
    out), ``error`` Telegram's text for a failure (``getWebhookInfo.last_error_message``)."""

    update_id: int
    status: int
    error: str | None
    at: float


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _update_chat(update: dict[str, Any]) -> Any:
    """The chat an update belongs to, for keeping a chat's updates in order; None: no chat."""
    payload = next((v for k, v in update.items() if k != "update_id"), None)
    if not isinstance(payload, dict):
        return None
    for holder in (payload, payload.get("message")):
        if isinstance(holder, dict) and isinstance(holder.get("chat"), dict):
            return holder["chat"].get("id")
    sender = payload.get("from") or payload.get("user")
    return sender.get("id") if isinstance(sender, dict) else None


class _WebhookPusher:
    """POSTs the server's queued updates to one webhook until cancelled: at most ``max_connections``
    requests at once and one per chat; an update leaves the queue on a 2xx answer, otherwise it waits
    ``webhook_retry_s`` (doubling per failure, at most a minute) and goes again. Made and run on the
    server's event loop; the queue itself is shared with pollers and user helpers under the lock."""

    def __init__(self, server: BotAPIServer, hook: dict[str, Any]) -> None:
        self.server = server
        self.url = str(hook["url"])
        secret = hook.get("secret_token")
        self.headers = {"X-Telegram-Bot-Api-Secret-Token": str(secret)} if secret else {}
        self.connections = int(hook["max_connections"])
        self.wake = asyncio.Event()
        self._in_flight: set[int] = set()  # update ids being POSTed
        self._retry_at: dict[int, float] = {}  # update id: loop time of its next try
        self._failures: dict[int, int] = {}
        self._task = asyncio.get_running_loop().create_task(self._run(), name="botapi-webhook")

    def cancel(self) -> None:
        self._task.cancel()

    async def closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.connections)
        posts: set[asyncio.Task[None]] = set()
        timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while True:
                    await slots.acquire()
                    update = await self._next()
                    post = asyncio.get_running_loop().create_task(self._post(session, update))
                    posts.add(post)
                    post.add_done_callback(lambda t: (posts.discard(t), slots.release()))
            finally:
                for post in posts:
                    post.cancel()
                await asyncio.gather(*posts, return_exceptions=True)

    async def _next(self) -> dict[str, Any]:
        """The oldest update that may go now, marked in flight; waits until there is one."""
        loop = asyncio.get_running_loop()
        while True:
            self.wake.clear()
            now, soonest = loop.time(), None
            with self.server._lock:
                held: set[Any] = set()  # chats with an earlier update in flight or waiting to retry
                for update in self.server._updates:
                    uid, chat = update["update_id"], _update_chat(update)
                    key = ("update", uid) if chat is None else chat
                    if key in held:
                        continue
                    retry_at = self._retry_at.get(uid, 0.0)
                    if uid in self._in_flight or retry_at > now:
                        held.add(key)
                        if uid not in self._in_flight:
                            soonest = retry_at if soonest is None else min(soonest, retry_at)
                        continue
                    self._in_flight.add(uid)
                    return copy.deepcopy(update)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), None if soonest is None else soonest - now)

    async def _post(self, session: aiohttp.ClientSession, update: dict[str, Any]) -> None:
        uid = update["update_id"]
        try:
            status, error = await self._send(session, update)
            with self.server._lock:
                self.server._deliveries.append(Delivery(uid, status, error, time.time()))
                if error is None:
                    self.server._updates = [u for u in self.server._updates if u["update_id"] != uid]
                    self._retry_at.pop(uid, None)
                    self._failures.pop(uid, None)
                else:
                    failures = self._failures[uid] = self._failures.get(uid, 0) + 1
                    pause = min(self.server.webhook_retry_s * 2 ** (failures - 1), WEBHOOK_RETRY_MAX_S)
                    self._retry_at[uid] = asyncio.get_running_loop().time() + pause
                    self.server._webhook_error = (int(time.time()), error)
        finally:  # cancelled too: the update stays queued for the next webhook or getUpdates
            self._in_flight.discard(uid)
            self.wake.set()

    async def _send(self, session: aiohttp.ClientSession, update: dict[str, Any]) -> tuple[int, str | None]:
        """The HTTP status (0: no answer) and Telegram's text for a failure (None: delivered)."""
        try:
            async with session.post(self.url, json=update, headers=self.headers) as response:
                await response.read()
        except aiohttp.ClientConnectorError:
            return 0, "Connection refused"
        except TimeoutError:
            return 0, "Read timeout expired"
        except aiohttp.ClientError as exc:
            return 0, f"Connection failed: {type(exc).__name__}"
        if 200 <= response.status < 300:
            return response.status, None
        return (
            response.status,
            f"Wrong response from the webhook: {response.status} {response.reason or ''}".strip(),
        )


# --------------------------------------------------------------------------------------------
# The server


class BotAPIServer:
    """The Bot API for one bot token on ``127.0.0.1:<free port>``; see the module docstring.

    Use ``with BotAPIServer() as server:`` or ``start()``/``stop()`` (a background thread), or
    ``async with`` / ``astart()``/``astop()`` on the caller's event loop. Point aiogram at
    ``server.base_url``. Helpers that make updates (``user_message``, ``user_callback``...) queue
    them for ``getUpdates`` and return the update dict; they are thread-safe.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "dora_test_bot",
        bot_name: str = "DORA",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_s: float = 0.5,
        drafts: bool = True,
    ) -> None:
        """``webhook_retry_s``: the first pause before a failed webhook request is retried; it
        doubles with each failure of the same update, up to a minute (Telegram's pauses are longer
        and undocumented: a test should not wait that long). ``drafts`` False: a server from before
        ``sendMessageDraft`` (an older self-hosted ``telegram-bot-api``), which answers the method
        404 "Not Found" like any method it does not know; :attr:`drafts` can be flipped any time."""
        self.token = token
        self.drafts = drafts
        self.webhook_retry_s = webhook_retry_s
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456789
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.host, self._requested_port = host, port
        self.port = 0
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._poll_waiters: set[asyncio.Future[str]] = set()
        self._listeners: list[Callable[[Call], None]] = []
        self._pusher: _WebhookPusher | None = None  # delivering to the webhook; lives on the server's loop
        self._methods: dict[str, tuple[str, Callable[..., Any]]] = {}
        for name in dir(self):
            if name.startswith("_m_"):
                canonical = name[3:]
                self._methods[canonical.lower()] = (canonical, getattr(self, name))
        for canonical, kind in _MEDIA_METHODS.items():  # one handler, the kind of media apart
            self._methods[canonical.lower()] = (canonical, functools.partial(self._send_media, kind))
        self._reset_state()

    def _reset_state(self) -> None:
        self._calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100000001
        self._allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self.dropped_updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self._webhook_error: tuple[int, str] | None = None  # (unix time, Telegram's text) of the last failure
        self._deliveries: list[Delivery] = []
        self._users: dict[int, dict[str, Any]] = {self.bot_user["id"]: dict(self.bot_user)}
        self._chats: dict[int, dict[str, Any]] = {}
        self._next_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._file_counter = 0
        self._faults: dict[str, list[_Fault]] = {}
        self._blocked: set[int] = set()
        self._members: dict[tuple[int, int], str] = {}
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._pre_checkout: dict[str, dict[str, Any]] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._star_transactions: list[dict[str, Any]] = []
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._drafts: dict[tuple[int, int], str] = {}  # (chat, draft id) → the text shown now
        self._reactions: dict[tuple[int, int, int], list[str]] = {}  # (chat, message, user) → emoji set
        self.errors: list[BaseException] = []  # bugs in this server, surfaced as 500s

    # ----------------------------------------------------------------------------------------
    # Lifecycle

    @property
    def base_url(self) -> str:
        """For ``TelegramAPIServer.from_base(...)``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> BotAPIServer:
        """Serve from a background thread with its own event loop; returns once listening."""
        if self._thread is not None or self._runner is not None:
            raise RuntimeError("already started")
        ready, failure = threading.Event(), list[BaseException]()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(loop))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="botapi-server", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("Bot API test server did not start within 15 s")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving; waiting ``getUpdates`` calls answer ``[]`` first. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        self._thread = None

    async def astart(self) -> BotAPIServer:
        """Serve on the running event loop (for async tests)."""
        if self._thread is not None or self._runner is not None:
            raise RuntimeError("already started")
        await self._serve(asyncio.get_running_loop())
        return self

    async def astop(self) -> None:
        await self._shutdown()

    def __enter__(self) -> BotAPIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> BotAPIServer:
        return await self.astart()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.astop()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Telegram caps uploads at 50 MB; past that aiohttp raises and we answer 413 like Telegram.
        app = web.Application(client_max_size=UPLOAD_MAX + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        # handler_cancellation: a poller that hangs up stops waiting here too (no stale 409s).
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A restart keeps the port, so a bot configured with base_url reconnects (an outage, healed).
        sock.bind((self.host, self._requested_port or self.port))
        site = web.SockSite(runner, sock)
        await site.start()
        self.port = sock.getsockname()[1]
        self._runner = runner

    async def _shutdown(self) -> None:
        self._wake_pollers("stop")
        pusher, self._pusher = self._pusher, None
        if pusher is not None:
            pusher.cancel()
            await pusher.closed()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ----------------------------------------------------------------------------------------
    # Records and waiting

    def calls(self, method: str | None = None) -> list[Call]:
        """Every request so far (in the order they were answered), or those of one method."""
        with self._lock:
            if method is None:
                return list(self._calls)
            return [c for c in self._calls if c.method.lower() == method.lower()]

    def mark(self) -> int:
        """A position in the call log, for ``wait_for(..., since=mark)``: only later calls count."""
        with self._lock:
            return len(self._calls)

    def sent_messages(self, chat_id: int | str | None = None) -> list[Call]:
        """Successful sends and edits of messages (sendMessage, sendPhoto, editMessageText...)."""
        with self._lock:
            return [
                c
                for c in self._calls
                if c.ok and c.method in MESSAGE_METHODS and (chat_id is None or _call_chat(c) == chat_id)
            ]

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat as it stands: user and bot messages by id, edits applied, deletions gone."""
        with self._lock:
            found = [m for (cid, _), m in self._messages.items() if cid == chat_id]
            return copy.deepcopy(sorted(found, key=lambda m: m["message_id"]))

    def drafts_shown(self, chat_id: int) -> list[str]:
        """Every text a draft in the chat showed, in order (each ``sendMessageDraft`` that succeeded),
        so a test can see a reply grow; a draft is a preview, never a message of the chat."""
        with self._lock:
            return [
                str(c.params.get("text") or "")
                for c in self._calls
                if c.ok and c.method == "sendMessageDraft" and _call_chat(c) == chat_id
            ]

    def wait_for(self, match: str | Callable[[Call], bool], timeout: float = 10.0, *, since: int = 0) -> Call:
        """The first recorded call (from index ``since``) matching a method name or predicate.

        Blocks until one is recorded; raises ``TimeoutError`` listing what was called instead.
        """
        predicate = _predicate(match)
        deadline = time.monotonic() + timeout
        with self._cond:
            checked = since
            while True:
                for call in self._calls[checked:]:
                    if predicate(call):
                        return call
                checked = max(checked, len(self._calls))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(f"{c.method}({'ok' if c.ok else c.error})" for c in self._calls[since:])
                    raise TimeoutError(
                        f"no call matching {match!r} within {timeout} s; got: {seen or 'none'}"
                    )
                self._cond.wait(remaining)

    async def wait_for_async(
        self, match: str | Callable[[Call], bool], timeout: float = 10.0, *, since: int = 0
    ) -> Call:
        """:meth:`wait_for` without blocking the caller's event loop (the bot may share it)."""
        return await asyncio.to_thread(self.wait_for, match, timeout, since=since)

    def clear(self) -> None:
        """Forget recorded calls (state — chats, messages, queued updates — stays)."""
        with self._cond:
            self._calls.clear()

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by an ``offset`` (delivered or not)."""
        with self._lock:
            return copy.deepcopy(self._updates)

    def on_call(self, listener: Callable[[Call], None]) -> Callable[[], None]:
        """Have ``listener`` called with each :class:`Call` as it is recorded (after the answer went
        out); returns a function that removes it. It runs on the server's event loop thread (the
        caller's loop after ``astart``), so it must be quick and not block; what it raises is logged
        and otherwise ignored."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def webhook_deliveries(self) -> list[Delivery]:
        """Every POST of an update to the webhook so far, failed ones included, in order."""
        with self._lock:
            return list(self._deliveries)

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(call)
            except Exception:
                log.exception("Bot API test server: a call listener failed")

    # ----------------------------------------------------------------------------------------
    # Fault injection and chat setup

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 2,
        times: int = 1,
        *,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any) with an error.

        429 carries ``parameters.retry_after`` (aiogram raises TelegramRetryAfter); other statuses
        answer Telegram's usual description for them unless ``description`` is given.
        """
        parameters = {"retry_after": retry_after} if status == 429 and retry_after is not None else None
        text = description or _default_description(status, retry_after)
        with self._lock:
            self._faults.setdefault(method.lower(), []).append(_Fault(status, text, parameters, times))

    def block_user(self, user_id: int, *, notify: bool = False) -> None:
        """The user blocks the bot: sends to them answer 403; ``notify`` queues ``my_chat_member``."""
        with self._lock:
            self._blocked.add(user_id)
        if notify:
            self._push_my_chat_member(user_id, "member", "kicked")

    def unblock_user(self, user_id: int, *, notify: bool = False) -> None:
        with self._lock:
            self._blocked.discard(user_id)
        if notify:
            self._push_my_chat_member(user_id, "kicked", "member")

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        is_premium: bool | None = None,
    ) -> dict[str, Any]:
        """Make a user (and their private chat) known, as if they had started the bot."""
        with self._lock:
            user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Тест"}
            for key, value in (
                ("first_name", first_name),
                ("last_name", last_name),
                ("username", username),
                ("language_code", language_code),
                ("is_premium", is_premium),
            ):
                if value is not None:
                    user[key] = value
            self._users[user_id] = user
            chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    chat[key] = user[key]
            self._chats[user_id] = chat
            return dict(user)

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str = "supergroup",
        title: str = "Тестовая группа",
        username: str | None = None,
    ) -> dict[str, Any]:
        """Make a group, supergroup or channel known (the bot is in it)."""
        with self._lock:
            chat = {"id": chat_id, "type": chat_type, "title": title}
            if username:
                chat["username"] = username
            self._chats[chat_id] = chat
            return dict(chat)

    def set_chat_member(
        self,
        chat_id: int,
        user_id: int,
        status: str = "member",
        *,
        chat_type: str = "channel",
        title: str = "Канал",
    ) -> None:
        """What ``getChatMember(chat_id, user_id)`` answers: creator/administrator/member/left/kicked."""
        if status not in ("creator", "administrator", "member", "left", "kicked"):
            raise ValueError(f"unsupported status {status!r}")
        with self._lock:
            if chat_id not in self._chats:
                self.add_chat(chat_id, chat_type=chat_type, title=title)
            if user_id not in self._users:
                self.add_user(user_id)
            self._members[(chat_id, user_id)] = status

    def pre_checkout_answer(self, query_id: str) -> dict[str, Any] | None:
        """How the bot answered a pre-checkout query (``{"ok": ..., "error_message": ...}``)."""
        with self._lock:
            query = self._pre_checkout.get(query_id)
            return None if query is None else query.get("answer")

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        """How the bot answered a callback query (its answerCallbackQuery params), if it did."""
        with self._lock:
            query = self._callback_queries.get(query_id)
            return None if query is None else query.get("answer")

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._commands.get(_commands_key(scope, language_code), []))

    def file_bytes(self, file_id: str) -> bytes | None:
        with self._lock:
            entry = self._files.get(file_id)
            return None if entry is None else entry.data

    # ----------------------------------------------------------------------------------------
    # Updates

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (``update_id`` assigned when missing); users, chats and messages in it
        become known. Dropped (kept in ``dropped_updates``) when its type is not in the bot's
        ``allowed_updates`` — Telegram applies that setting when an update is created."""
        update = copy.deepcopy(update)
        with self._lock:
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
            self._absorb(update)
            kind = next((k for k in update if k != "update_id"), "")
            if kind not in self._allowed_updates:
                self.dropped_updates.append(update)
                return copy.deepcopy(update)
            self._updates.append(update)
        self._wake_pollers_threadsafe()
        return copy.deepcopy(update)

    def user_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_type: str = "private",
        chat_id: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        entities: list[dict[str, Any]] | None = None,
        reply_to_message_id: int | None = None,
        title: str = "Тестовая группа",
    ) -> dict[str, Any]:
        """A user writes ``text`` (commands in it get ``bot_command`` entities, like on Telegram)."""
        content: dict[str, Any] = {"text": text}
        found = entities if entities is not None else _auto_entities(text)
        if found:
            content["entities"] = found
        return self._user_message_update(
            user_id,
            content,
            chat_type=chat_type,
            chat_id=chat_id,
            profile={
                "first_name": first_name,
                "last_name": last_name,
                "username": username,
                "language_code": language_code,
            },
            reply_to_message_id=reply_to_message_id,
            title=title,
        )

    def user_command(
        self, user_id: int, command: str, args: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """``/start`` (or ``start``) with optional arguments, as a message with a bot_command entity."""
        command = command if command.startswith("/") else "/" + command
        text = f"{command} {args}" if args else command
        entities = [_entity("bot_command", 0, utf16_len(command.split(" ", 1)[0]))]
        return self.user_message(user_id, text, entities=entities, **kwargs)

    def group_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int = DEFAULT_GROUP_ID,
        chat_type: str = "supergroup",
        title: str = "Тестовая группа",
        **kwargs: Any,
    ) -> dict[str, Any]:
        return self.user_message(user_id, text, chat_type=chat_type, chat_id=chat_id, title=title, **kwargs)

    def user_photo(
        self, user_id: int, image: bytes, *, caption: str | None = None, chat_id: int | None = None
    ) -> dict[str, Any]:
        """A user sends a photo; its sizes are registered, so getFile and downloads serve them."""
        with self._lock:
            sizes = self._store_photo(image)
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self._user_message_update(user_id, content, chat_id=chat_id)

    def user_voice(
        self,
        user_id: int,
        ogg_bytes: bytes,
        duration: int,
        *,
        mime_type: str = "audio/ogg",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """A user sends a voice note; getFile + download serve exactly ``ogg_bytes``."""
        with self._lock:
            entry = self._store_file("voice", ogg_bytes, mime_type=mime_type)
        voice = {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "duration": int(duration),
            "mime_type": mime_type,
            "file_size": len(ogg_bytes),
        }
        return self._user_message_update(user_id, {"voice": voice}, chat_id=chat_id)

    def user_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        mime_type = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        with self._lock:
            entry = self._store_file("document", data, mime_type=mime_type, file_name=file_name)
        content: dict[str, Any] = {"document": _document_obj(entry)}
        if caption:
            content["caption"] = caption
        return self._user_message_update(user_id, content, chat_id=chat_id)

    def user_sticker(
        self,
        user_id: int,
        emoji: str = "🙂",
        *,
        set_name: str | None = "TestStickers",
        data: bytes = b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            entry = self._store_file("sticker", data, mime_type="image/webp")
        sticker: dict[str, Any] = {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(data),
        }
        if set_name:
            sticker["set_name"] = set_name
        return self._user_message_update(user_id, {"sticker": sticker}, chat_id=chat_id)

    def user_location(
        self, user_id: int, latitude: float, longitude: float, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        location = {"latitude": float(latitude), "longitude": float(longitude)}
        return self._user_message_update(user_id, {"location": location}, chat_id=chat_id)

    def user_contact(
        self,
        user_id: int,
        phone_number: str,
        first_name: str | None = None,
        *,
        contact_user_id: int | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """A shared contact; ``contact_user_id=user_id`` is the user sharing their own number."""
        with self._lock:
            known = self._users.get(contact_user_id or user_id, {})
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name or known.get("first_name", "Тест"),
        }
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._user_message_update(user_id, {"contact": contact}, chat_id=chat_id)

    def user_video_note(
        self, user_id: int, data: bytes, duration: int, *, length: int = 240, chat_id: int | None = None
    ) -> dict[str, Any]:
        with self._lock:
            entry = self._store_file("video_note", data, mime_type="video/mp4")
        note = {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "length": length,
            "duration": int(duration),
            "file_size": len(data),
        }
        return self._user_message_update(user_id, {"video_note": note}, chat_id=chat_id)

    def edited_message(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The user edits their message ``message_id`` to ``text`` (an ``edited_message`` update)."""
        chat_id = user_id if chat_id is None else chat_id
        with self._lock:
            msg = self._messages.get((chat_id, message_id))
            if msg is None or msg.get("from", {}).get("id") != user_id:
                raise KeyError(f"user {user_id} has no message {message_id} in chat {chat_id}")
            msg["text"] = text
            msg.pop("entities", None)
            if found := _auto_entities(text):
                msg["entities"] = found
            msg["edit_date"] = int(time.time())
            return self._push_locked("edited_message", copy.deepcopy(msg))

    def user_callback(
        self,
        user_id: int,
        data: str,
        message_id: int | None = None,
        *,
        chat_id: int | None = None,
        strict: bool = True,
    ) -> dict[str, Any]:
        """The user presses an inline button with ``data`` under the bot's message ``message_id``.

        Without ``message_id``: the bot's latest message in the chat that has an inline keyboard.
        ``strict`` checks the button exists (Telegram only sends data of real buttons); a message
        that is gone arrives as an inaccessible message (``date`` 0), like on Telegram.
        """
        chat_id = user_id if chat_id is None else chat_id
        with self._lock:
            user = self._user(user_id)
            chat = self._chats.get(chat_id)
            if chat is None:
                raise KeyError(f"chat {chat_id} is not known")
            if message_id is None:
                with_keyboard = [
                    m
                    for (cid, _), m in self._messages.items()
                    if cid == chat_id and m["from"]["id"] == self.bot_user["id"] and "reply_markup" in m
                ]
                if not with_keyboard:
                    raise KeyError(f"the bot has no message with an inline keyboard in chat {chat_id}")
                message_id = max(m["message_id"] for m in with_keyboard)
            msg = self._messages.get((chat_id, message_id))
            if msg is None:
                message: dict[str, Any] = {"chat": dict(chat), "message_id": message_id, "date": 0}
            else:
                if strict and data not in _callback_datas(msg):
                    raise ValueError(f"message {message_id} has no button with callback_data {data!r}")
                message = copy.deepcopy(msg)
            query_id = str(secrets.randbits(62))
            query = {
                "id": query_id,
                "from": user,
                "message": message,
                "chat_instance": str(-(abs(hash((self.bot_user["id"], chat_id))) % 10**18)),
                "data": data,
            }
            self._callback_queries[query_id] = {"user_id": user_id, "answer": None}
            return self._push_locked("callback_query", query)

    def user_reaction(
        self, user_id: int, message_id: int, emoji: str | list[str] | None, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The user sets their reactions on message ``message_id`` to ``emoji`` (one, a list, or None
        to take them all back). Like Telegram, the ``message_reaction`` update carries the user's
        previous reactions and the new ones, and it reaches the bot only if its ``allowed_updates``
        name it; the message must exist. Several emoji at once are a Premium user's."""
        chat_id = user_id if chat_id is None else chat_id
        new = [emoji] if isinstance(emoji, str) else list(emoji or [])
        with self._lock:
            user = self._user(user_id)
            chat = self._chats.get(chat_id)
            if chat is None or (chat_id, message_id) not in self._messages:
                raise KeyError(f"no message {message_id} in chat {chat_id}")
            old = self._reactions.get((chat_id, message_id, user_id), [])
            self._reactions[(chat_id, message_id, user_id)] = new
            return self._push_locked(
                "message_reaction",
                {
                    "chat": dict(chat),
                    "message_id": message_id,
                    "user": user,
                    "date": int(time.time()),
                    "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
                    "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
                },
            )

    def pre_checkout_query(
        self, user_id: int, payload: str, total_amount: int, currency: str = "XTR"
    ) -> dict[str, Any]:
        """The user confirms paying an invoice; the bot must answer within 10 s on Telegram."""
        with self._lock:
            user = self._user(user_id)
            query_id = str(secrets.randbits(62))
            self._pre_checkout[query_id] = {"user_id": user_id, "payload": payload, "answer": None}
            query = {
                "id": query_id,
                "from": user,
                "currency": currency,
                "total_amount": int(total_amount),
                "invoice_payload": payload,
            }
            return self._push_locked("pre_checkout_query", query)

    def successful_payment(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        charge_id: str | None = None,
        *,
        currency: str = "XTR",
    ) -> dict[str, Any]:
        """The payment went through: a service message; the charge can then be refunded."""
        charge_id = charge_id or f"stxTEST{secrets.token_hex(12)}"
        payment = {
            "currency": currency,
            "total_amount": int(total_amount),
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "" if currency == "XTR" else f"prov_{charge_id}",
        }
        with self._lock:
            user = self._user(user_id)
            self._charges[charge_id] = {
                "user_id": user_id,
                "amount": int(total_amount),
                "payload": payload,
                "currency": currency,
                "refunded": False,
            }
            if currency == "XTR":
                self._star_transactions.append(
                    {
                        "id": charge_id,
                        "amount": int(total_amount),
                        "date": int(time.time()),
                        "source": _partner(user, payload),
                    }
                )
        return self._user_message_update(user_id, {"successful_payment": payment})

    def refunded_payment(
        self, user_id: int, payload: str, total_amount: int, charge_id: str, *, currency: str = "XTR"
    ) -> dict[str, Any]:
        """Telegram's service message about a refund (Bot API ``Message.refunded_payment``)."""
        refund = {
            "currency": currency,
            "total_amount": int(total_amount),
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
        }
        with self._lock:
            if charge_id in self._charges:
                self._charges[charge_id]["refunded"] = True
        return self._user_message_update(user_id, {"refunded_payment": refund})

    def _user(self, user_id: int, profile: dict[str, Any] | None = None) -> dict[str, Any]:
        """The user's object for updates, registering them (and their private chat) on first use."""
        wanted = {k: v for k, v in (profile or {}).items() if v is not None}
        if user_id not in self._users or wanted:
            self.add_user(user_id, **wanted)
        return dict(self._users[user_id])

    def _user_message_update(
        self,
        user_id: int,
        content: dict[str, Any],
        *,
        chat_type: str = "private",
        chat_id: int | None = None,
        profile: dict[str, Any] | None = None,
        reply_to_message_id: int | None = None,
        title: str = "Тестовая группа",
    ) -> dict[str, Any]:
        with self._lock:
            user = self._user(user_id, profile)
            if chat_id is None:
                chat_id = user_id if chat_type == "private" else DEFAULT_GROUP_ID
            elif chat_type == "private" and chat_id != user_id and chat_id not in self._chats:
                raise ValueError("a private chat's id is the user's id; pass chat_type for a group")
            if chat_id not in self._chats:
                self.add_chat(chat_id, chat_type=chat_type, title=title)
            msg: dict[str, Any] = {
                "message_id": self._new_message_id(chat_id),
                "from": user,
                "chat": dict(self._chats[chat_id]),
                "date": int(time.time()),
                **content,
            }
            if reply_to_message_id is not None:
                replied = self._messages.get((chat_id, reply_to_message_id))
                if replied is None:
                    raise KeyError(f"no message {reply_to_message_id} in chat {chat_id}")
                msg["reply_to_message"] = _shallow_message(replied)
            return self._push_locked("message", msg)

    def _push_locked(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.push_update({"update_id": self._next_update_id, kind: payload})

    def _push_my_chat_member(self, user_id: int, old: str, new: str) -> None:
        with self._lock:
            user = self._user(user_id)
            bot = dict(self.bot_user)
            new_member: dict[str, Any] = {"status": new, "user": bot}
            if new == "kicked":
                new_member["until_date"] = 0
            old_member: dict[str, Any] = {"status": old, "user": bot}
            if old == "kicked":
                old_member["until_date"] = 0
            self._push_locked(
                "my_chat_member",
                {
                    "chat": dict(self._chats[user_id]),
                    "from": user,
                    "date": int(time.time()),
                    "old_chat_member": old_member,
                    "new_chat_member": new_member,
                },
            )

    def _absorb(self, update: dict[str, Any]) -> None:
        """Learn users, chats and messages from an update, so the bot can answer and edit."""
        for kind in ("message", "edited_message", "channel_post", "edited_channel_post"):
            msg = update.get(kind)
            if not isinstance(msg, dict):
                continue
            chat, sender = msg.get("chat"), msg.get("from")
            if isinstance(sender, dict) and "id" in sender:
                self._users.setdefault(sender["id"], dict(sender))
            if isinstance(chat, dict) and "id" in chat:
                self._chats.setdefault(chat["id"], dict(chat))
                mid = msg.get("message_id")
                if isinstance(mid, int):
                    self._messages[(chat["id"], mid)] = copy.deepcopy(msg)
                    self._next_message_id[chat["id"]] = max(self._next_message_id.get(chat["id"], 1), mid + 1)

    def _new_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, shared by the user's and the bot's messages."""
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        return mid

    # ----------------------------------------------------------------------------------------
    # Long polling

    def _wake_pollers_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(self._update_queued)

    def _update_queued(self) -> None:
        """On the server's loop: whoever waits for updates (a poller, the webhook pusher) looks again."""
        self._wake_pollers("update")
        if self._pusher is not None:
            self._pusher.wake.set()

    def _wake_pollers(self, why: str) -> None:
        for waiter in list(self._poll_waiters):
            if not waiter.done():
                waiter.set_result(why)

    async def _m_getUpdates(self, p: _Params, files: _Files, names: _Names) -> Any:
        loop = asyncio.get_running_loop()
        self._wake_pollers("conflict")  # one poller at a time: Telegram ends the waiting one with 409
        offset = int(p.get("offset") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        timeout = max(float(p.get("timeout") or 0), 0.0)
        deadline = loop.time() + timeout
        with self._lock:
            if self.webhook is not None:
                raise _Fail(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete it first",
                )
            allowed = p.get("allowed_updates")
            if isinstance(allowed, list):
                self._allowed_updates = frozenset(allowed) if allowed else _DEFAULT_UPDATE_TYPES
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
        while True:
            with self._lock:
                if self._updates:
                    return copy.deepcopy(self._updates[:limit])
            remaining = deadline - loop.time()
            if remaining <= 0 or self._runner is None:
                return []
            waiter: asyncio.Future[str] = loop.create_future()
            self._poll_waiters.add(waiter)
            try:
                why = await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                why = "timeout"
            finally:
                self._poll_waiters.discard(waiter)
            if why == "conflict":
                raise _Fail(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if why == "stop":
                return []

    # ----------------------------------------------------------------------------------------
    # HTTP

    async def _handle_method(self, request: web.Request) -> web.Response:
        at = time.time()
        spec = self._methods.get(request.match_info["method"].lower())
        method = spec[0] if spec else request.match_info["method"]
        try:
            params, files, names = await _read_request(request)
        except web.HTTPRequestEntityTooLarge:
            return await self._respond(
                request, Call(method, {}, at=at), _Fail(413, "Request Entity Too Large")
            )
        except ValueError as exc:
            return await self._respond(request, Call(method, {}, at=at), _bad(f"can't parse request: {exc}"))
        call = Call(method, params, files, at, names)
        if request.match_info["token"] != self.token:
            return await self._respond(request, call, _Fail(401, "Unauthorized"))
        if spec is None or (spec[0] == "sendMessageDraft" and not self.drafts):
            return await self._respond(request, call, _Fail(404, "Not Found"))
        if fault := self._take_fault(method):
            return await self._respond(
                request, call, _Fail(fault.status, fault.description, fault.parameters)
            )
        try:
            handler = spec[1]
            if inspect.iscoroutinefunction(handler):
                result = await handler(params, files, names)
            else:
                with self._lock:
                    result = handler(params, files, names)
        except _Fail as fail:
            return await self._respond(request, call, fail)
        except Exception as exc:
            log.exception("Bot API test server failed on %s", method)
            self.errors.append(exc)
            return await self._respond(
                request, call, _Fail(500, f"Internal Server Error: {type(exc).__name__}: {exc}")
            )
        return await self._respond(request, call, result)

    async def _respond(self, request: web.Request, call: Call, outcome: Any) -> web.StreamResponse:
        """Answer, then record: by the time a test sees the call, the answer is on its way to the
        bot, so a test that stops the bot right after does not cut the bot's request short."""
        if isinstance(outcome, _Fail):
            body: dict[str, Any] = {
                "ok": False,
                "error_code": outcome.status,
                "description": outcome.description,
            }
            if outcome.parameters:
                body["parameters"] = outcome.parameters
            status = outcome.status
        else:
            body, status = {"ok": True, "result": outcome}, 200
        call.status, call.response = status, copy.deepcopy(body)
        response = web.json_response(body, status=status)
        try:
            await response.prepare(request)
            await response.write_eof()
        finally:
            self._record(call)
        return response

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for key in (method.lower(), "*"):
                queue = self._faults.get(key)
                if queue:
                    fault = queue[0]
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.pop(0)
                    return fault
        return None

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        call = Call("downloadFile", {"file_path": path}, at=time.time())
        if request.match_info["token"] != self.token:
            return await self._respond(request, call, _Fail(401, "Unauthorized"))
        with self._lock:
            entry = self._files_by_path.get(path)
        if entry is None or entry.data is None:
            return await self._respond(request, call, _Fail(404, "Not Found"))
        call.status, call.response = 200, {"ok": True, "result": {"file_path": path, "size": len(entry.data)}}
        response = web.Response(body=entry.data, content_type=entry.mime_type or "application/octet-stream")
        try:
            await response.prepare(request)
            await response.write_eof()
        finally:
            self._record(call)
        return response

    async def _handle_unknown_path(self, request: web.Request) -> web.StreamResponse:
        """A wrong base URL or path: Telegram's 404, recorded under the path so a test can see it."""
        return await self._respond(request, Call(request.path, {}, at=time.time()), _Fail(404, "Not Found"))

    # ----------------------------------------------------------------------------------------
    # Shared checks

    def _chat(self, p: dict[str, Any], key: str = "chat_id") -> dict[str, Any]:
        chat_id = p.get(key)
        if chat_id is None or chat_id == "":
            raise _bad(f"{key} is empty")
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                found = [
                    c for c in self._chats.values() if c.get("username", "").lower() == chat_id[1:].lower()
                ]
                if found:
                    return found[0]
            elif re.fullmatch(r"-?\d+", chat_id):
                chat_id = int(chat_id)
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _writable_chat(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(p)
        if chat["type"] == "private" and chat["id"] in self._blocked:
            raise _Fail(403, "Forbidden: bot was blocked by the user")
        return chat

    def _text(
        self, p: dict[str, Any], key: str, entities_key: str, parse_mode_key: str = "parse_mode"
    ) -> tuple[str, list[dict[str, Any]]]:
        raw = p.get(key)
        raw = "" if raw is None else str(raw)
        entities = p.get(entities_key)
        if entities is not None and not isinstance(entities, list):
            raise _bad(f"can't parse {entities_key} JSON object")
        try:
            return parse_text(raw, p.get(parse_mode_key), entities)
        except EntityParseError as exc:
            raise _bad(f"can't parse entities: {exc}") from None
        except ValueError:
            raise _bad("unsupported parse_mode") from None

    def _caption(self, p: dict[str, Any]) -> dict[str, Any]:
        caption, entities = self._text(p, "caption", "caption_entities")
        if utf16_len(caption) > CAPTION_MAX:
            raise _bad("message caption is too long")
        content: dict[str, Any] = {}
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return content

    def _markup(self, p: dict[str, Any]) -> dict[str, Any] | None:
        """Validate ``reply_markup``; the inline keyboard (the only kind a Message shows) or None."""
        markup = p.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
            for row in rows:
                for button in row:
                    _check_inline_button(button)
            return markup
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
            for row in rows:
                for button in row:
                    text = button.get("text") if isinstance(button, dict) else button
                    if not isinstance(text, str) or not text:
                        raise _bad("can't parse keyboard button: Text must be non-empty")
            return None
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return None
        raise _bad("can't parse reply keyboard markup JSON object")

    def _reply_to(self, chat: dict[str, Any], p: dict[str, Any]) -> dict[str, Any] | None:
        params = p.get("reply_parameters")
        if isinstance(params, dict):
            mid, allow = params.get("message_id"), bool(params.get("allow_sending_without_reply"))
        elif p.get("reply_to_message_id") is not None:
            mid, allow = p.get("reply_to_message_id"), bool(p.get("allow_sending_without_reply"))
        else:
            return None
        replied = self._messages.get((chat["id"], mid)) if isinstance(mid, int) else None
        if replied is None:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return _shallow_message(replied)

    def _new_bot_message(
        self, chat: dict[str, Any], p: dict[str, Any], content: dict[str, Any], markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        reply = self._reply_to(chat, p)
        msg: dict[str, Any] = {
            "message_id": self._new_message_id(chat["id"]),
            "from": dict(self.bot_user),
            "chat": dict(chat),
            "date": int(time.time()),
            **content,
        }
        if reply is not None:
            msg["reply_to_message"] = reply
        if markup is not None:
            msg["reply_markup"] = markup
        self._messages[(chat["id"], msg["message_id"])] = msg
        for key in [k for k in self._drafts if k[0] == chat["id"]]:  # a message sent ends the preview
            del self._drafts[key]
        return copy.deepcopy(msg)

    def _own_message(
        self, p: dict[str, Any], *, missing: str = "message to edit not found"
    ) -> dict[str, Any] | None:
        """The bot's message an edit targets; None for inline messages (they answer ``true``)."""
        if p.get("inline_message_id"):
            return None
        chat = self._writable_chat(p)
        mid = p.get("message_id")
        if mid is None:
            raise _bad("message identifier is not specified")
        msg = self._messages.get((chat["id"], mid)) if isinstance(mid, int) else None
        if msg is None:
            raise _bad(missing)
        if msg.get("from", {}).get("id") != self.bot_user["id"]:
            raise _bad("message can't be edited")
        return msg

    # ----------------------------------------------------------------------------------------
    # Files

    def _store_file(
        self,
        kind: str,
        data: bytes | None,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        url: str | None = None,
        width: int = 0,
        height: int = 0,
    ) -> _File:
        self._file_counter += 1
        n = self._file_counter
        folder, ext = _FILE_DIRS[kind]
        if kind == "document" and file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        entry = _File(
            file_id=f"{_FILE_ID_PREFIX[kind]}{n:05d}{secrets.token_urlsafe(36)}",
            file_unique_id=f"AgAD{secrets.token_urlsafe(9)}",
            kind=kind,
            file_path=f"{folder}/file_{n}{ext}",
            data=data,
            file_size=None if data is None else len(data),
            mime_type=mime_type,
            file_name=file_name,
            width=width,
            height=height,
            url=url,
        )
        self._files[entry.file_id] = entry
        self._files_by_path[entry.file_path] = entry
        return entry

    def _store_photo(self, data: bytes | None, *, url: str | None = None) -> list[dict[str, Any]]:
        """Telegram's photo sizes (90, 320, 800, 1280, 2560 boxes, up to the original's size).

        The largest size serves the uploaded bytes; smaller ones are real JPEG thumbnails.
        """
        image = None
        if data is None:
            width, height = 800, 600  # a URL we do not fetch
        else:
            try:
                from PIL import Image

                image = Image.open(io.BytesIO(data))
                image.load()
                width, height = image.size
            except Exception:
                raise _bad("IMAGE_PROCESS_FAILED") from None
            if width + height > 10000 or max(width, height) > 20 * min(width, height):
                raise _bad("PHOTO_INVALID_DIMENSIONS")
        sizes: list[_File] = []
        for box in _PHOTO_BOXES:
            scale = min(1.0, box / max(width, height))
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            last = scale >= 1.0 or box == _PHOTO_BOXES[-1]
            payload = data
            if image is not None and not last:
                thumb = image.convert("RGB")
                thumb.thumbnail((w, h))
                buf = io.BytesIO()
                thumb.save(buf, "JPEG", quality=80)
                payload = buf.getvalue()
            sizes.append(
                self._store_file("photo", payload, mime_type="image/jpeg", url=url, width=w, height=h)
            )
            if last:
                break
        group = [s.file_id for s in sizes]
        for s in sizes:
            s.group = group
        return [_photo_size(s) for s in sizes]

    def _input_file(
        self, kind: str, p: _Params, files: _Files, names: _Names, value: Any = None
    ) -> list[dict[str, Any]] | _File:
        """Resolve an InputFile: an upload, a known file_id or an HTTP URL (recorded, not fetched)."""
        value = p.get(kind) if value is None else value
        if isinstance(value, str) and value.startswith("attach://"):
            part = value[len("attach://") :]
            if part not in files:
                raise _bad(f"there is no {kind} in the request")
            data, file_name = files[part], names.get(part)
        elif value is None and kind in files:
            data, file_name = files[kind], names.get(kind)
        elif value is None or value == "":
            raise _bad(f"there is no {kind} in the request")
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            if kind == "photo":
                return self._store_photo(None, url=value)
            return self._store_file(kind, None, url=value, mime_type=mimetypes.guess_type(value)[0])
        else:
            entry = self._files.get(str(value))
            if entry is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            if entry.kind != kind:
                raise _bad(f"can't use file of type {_KIND_TITLE[entry.kind]} as {_KIND_TITLE[kind]}")
            if kind == "photo":
                return [_photo_size(self._files[fid]) for fid in entry.group or [entry.file_id]]
            return entry
        if kind == "photo":
            return self._store_photo(data)
        mime = mimetypes.guess_type(file_name or "")[0]
        if kind == "voice":
            mime = "audio/ogg"
        return self._store_file(kind, data, mime_type=mime or "application/octet-stream", file_name=file_name)

    def _media_content(
        self, kind: str, resolved: list[dict[str, Any]] | _File, p: dict[str, Any]
    ) -> dict[str, Any]:
        if isinstance(resolved, list):
            return {"photo": resolved}
        entry = resolved
        base: dict[str, Any] = {"file_id": entry.file_id, "file_unique_id": entry.file_unique_id}
        if entry.file_size is not None:
            base["file_size"] = entry.file_size
        duration = int(p.get("duration") or 0)
        if kind == "document":
            return {"document": _document_obj(entry)}
        if kind == "voice":
            return {"voice": {**base, "duration": duration, "mime_type": entry.mime_type or "audio/ogg"}}
        if kind == "audio":
            audio = {**base, "duration": duration}
            for key in ("performer", "title"):
                if p.get(key):
                    audio[key] = str(p[key])
            if entry.file_name:
                audio["file_name"] = entry.file_name
            return {"audio": audio}
        if kind in ("video", "animation"):
            width, height = int(p.get("width") or 640), int(p.get("height") or 360)
            return {kind: {**base, "width": width, "height": height, "duration": duration}}
        if kind == "video_note":
            return {"video_note": {**base, "length": int(p.get("length") or 240), "duration": duration}}
        sticker = {
            **base,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        if p.get("emoji"):
            sticker["emoji"] = str(p["emoji"])
        return {"sticker": sticker}

    # ----------------------------------------------------------------------------------------
    # Methods (``_m_<name>``; found by name, case-insensitively, like Telegram does)

    def _m_getMe(self, p: _Params, files: _Files, names: _Names) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logOut(self, p: _Params, files: _Files, names: _Names) -> Any:
        return True

    def _m_close(self, p: _Params, files: _Files, names: _Names) -> Any:
        return True

    def _m_setWebhook(self, p: _Params, files: _Files, names: _Names) -> Any:
        url = str(p.get("url") or "")
        if not url:  # an empty url removes the webhook, as on Telegram
            return self._m_deleteWebhook(p, files, names)
        if not url.startswith("https://") and not (url.startswith("http://") and _is_loopback(url)):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        connections = int(p.get("max_connections") or WEBHOOK_CONNECTIONS)
        if not 1 <= connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else _DEFAULT_UPDATE_TYPES
        hook = {**p, "max_connections": connections}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        if hook == self.webhook:  # "Webhook is already set": deliveries in flight go on
            return True
        self.webhook = hook
        self._webhook_error = None
        self._restart_pusher()
        return True

    def _m_deleteWebhook(self, p: _Params, files: _Files, names: _Names) -> Any:
        self.webhook = None
        self._restart_pusher()
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _m_getWebhookInfo(self, p: _Params, files: _Files, names: _Names) -> Any:
        info: dict[str, Any] = {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook["max_connections"]
        if self._webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    def _restart_pusher(self) -> None:
        """Stop delivering to the old webhook (requests in flight are cancelled: their updates stay
        queued) and start on the new one when it is on loopback. Runs on the server's loop."""
        old, self._pusher = self._pusher, None
        if old is not None:
            old.cancel()
        hook = self.webhook
        if hook is not None and _is_loopback(hook["url"]):
            self._pusher = _WebhookPusher(self, hook)

    def _m_setMyCommands(self, p: _Params, files: _Files, names: _Names) -> Any:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for item in commands:
            if not isinstance(item, dict) or not re.fullmatch(
                r"[a-z0-9_]{1,32}", str(item.get("command", ""))
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(item.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = _commands_key(p.get("scope"), str(p.get("language_code") or ""))
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _m_getMyCommands(self, p: _Params, files: _Files, names: _Names) -> Any:
        return copy.deepcopy(
            self._commands.get(_commands_key(p.get("scope"), str(p.get("language_code") or "")), [])
        )

    def _m_deleteMyCommands(self, p: _Params, files: _Files, names: _Names) -> Any:
        self._commands.pop(_commands_key(p.get("scope"), str(p.get("language_code") or "")), None)
        return True

    def _m_setMyDescription(self, p: _Params, files: _Files, names: _Names) -> Any:
        if len(str(p.get("description") or "")) > 512:
            raise _bad("BOT_DESCRIPTION_INVALID")
        return True

    def _m_setMyShortDescription(self, p: _Params, files: _Files, names: _Names) -> Any:
        if len(str(p.get("short_description") or "")) > 120:
            raise _bad("BOT_DESCRIPTION_INVALID")
        return True

    def _m_setMyName(self, p: _Params, files: _Files, names: _Names) -> Any:
        return True

    def _m_setChatMenuButton(self, p: _Params, files: _Files, names: _Names) -> Any:
        return True

    def _m_sendMessage(self, p: _Params, files: _Files, names: _Names) -> Any:
        chat = self._writable_chat(p)
        text, entities = self._text(p, "text", "entities")
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > MESSAGE_MAX:
            raise _bad("message is too long")
        markup = self._markup(p)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._new_bot_message(chat, p, content, markup)

    def _m_sendMessageDraft(self, p: _Params, files: _Files, names: _Names) -> Any:
        """A preview of a message being written (Bot API 9.3; private chats only). The draft lives
        until the bot sends a message to the chat or about 30 s pass; it is not a message, so it gets
        no id and does not show in :meth:`messages`."""
        chat = self._writable_chat(p)
        if chat["type"] != "private":
            raise _bad("TEXTDRAFT_PEER_INVALID")
        draft_id = p.get("draft_id")
        if not isinstance(draft_id, int) or isinstance(draft_id, bool) or draft_id == 0:
            raise _bad("draft_id must be non-zero")
        text, _entities = self._text(p, "text", "entities")
        if utf16_len(text) > MESSAGE_MAX:
            raise _bad("TEXT_TOO_LONG")
        self._drafts[(chat["id"], draft_id)] = text
        return True

    def _send_media(self, kind: str, p: _Params, files: _Files, names: _Names) -> Any:
        chat = self._writable_chat(p)
        caption = self._caption(p) if kind not in ("sticker", "video_note") else {}
        markup = self._markup(p)
        resolved = self._input_file(kind, p, files, names)
        return self._new_bot_message(chat, p, {**self._media_content(kind, resolved, p), **caption}, markup)

    def _m_sendLocation(self, p: _Params, files: _Files, names: _Names) -> Any:
        chat = self._writable_chat(p)
        try:
            lat, lon = float(p["latitude"]), float(p["longitude"])
        except (KeyError, TypeError, ValueError):
            raise _bad("wrong latitude or longitude specified") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise _bad("wrong latitude or longitude specified")
        return self._new_bot_message(
            chat, p, {"location": {"latitude": lat, "longitude": lon}}, self._markup(p)
        )

    def _m_sendChatAction(self, p: _Params, files: _Files, names: _Names) -> Any:
        self._writable_chat(p)
        if p.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _m_editMessageText(self, p: _Params, files: _Files, names: _Names) -> Any:
        msg = self._own_message(p)
        text, entities = self._text(p, "text", "entities")
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > MESSAGE_MAX:
            raise _bad("MESSAGE_TOO_LONG")
        markup = self._markup(p)
        if msg is None:
            return True
        if "text" not in msg:
            raise _bad("there is no text in the message to edit")
        return self._apply_edit(msg, {"text": text, "entities": entities or None}, markup)

    def _m_editMessageCaption(self, p: _Params, files: _Files, names: _Names) -> Any:
        msg = self._own_message(p)
        caption = self._caption(p)
        markup = self._markup(p)
        if msg is None:
            return True
        if not any(k in msg for k in ("photo", "document", "voice", "audio", "video", "animation")):
            raise _bad("there is no caption in the message to edit")
        return self._apply_edit(
            msg,
            {"caption": caption.get("caption"), "caption_entities": caption.get("caption_entities")},
            markup,
        )

    def _m_editMessageReplyMarkup(self, p: _Params, files: _Files, names: _Names) -> Any:
        msg = self._own_message(p)
        markup = self._markup(p)
        if msg is None:
            return True
        return self._apply_edit(msg, {}, markup)

    def _m_editMessageMedia(self, p: _Params, files: _Files, names: _Names) -> Any:
        msg = self._own_message(p)
        media = p.get("media")
        if not isinstance(media, dict):
            raise _bad("can't parse InputMedia: media isn't an Object")
        kind = media.get("type")
        if kind not in ("photo", "document", "audio", "video", "animation"):
            raise _bad("can't parse InputMedia: unsupported media type")
        caption = self._caption(
            {
                "caption": media.get("caption"),
                "caption_entities": media.get("caption_entities"),
                "parse_mode": media.get("parse_mode"),
            }
        )
        markup = self._markup(p)
        if msg is None:
            return True
        if not any(k in msg for k in ("photo", "document", "audio", "video", "animation")):
            raise _bad("there is no media in the message to edit")
        if kind in msg and media.get("media") == _main_file_id(msg, kind):
            resolved: list[dict[str, Any]] | _File | None = None
            content: dict[str, Any] = {kind: copy.deepcopy(msg[kind])}
        else:
            resolved = self._input_file(kind, media, files, names, value=media.get("media"))
            content = self._media_content(kind, resolved, media)
        changes: dict[str, Any] = {k: None for k in _MEDIA_KEYS if k != kind}
        changes.update(content)
        changes["caption"] = caption.get("caption")
        changes["caption_entities"] = caption.get("caption_entities")
        return self._apply_edit(msg, changes, markup)

    def _apply_edit(self, msg: dict[str, Any], changes: dict[str, Any], markup: dict[str, Any] | None) -> Any:
        """Edit in place; Telegram refuses an edit that changes nothing (markup included)."""
        same = all(msg.get(k) == v for k, v in changes.items()) and msg.get("reply_markup") == markup
        if same:
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        for key, value in {**changes, "reply_markup": markup}.items():
            if value is None:
                msg.pop(key, None)
            else:
                msg[key] = value
        msg["edit_date"] = int(time.time())
        return copy.deepcopy(msg)

    def _m_deleteMessage(self, p: _Params, files: _Files, names: _Names) -> Any:
        chat = self._chat(p)
        mid = p.get("message_id")
        if (chat["id"], mid) not in self._messages:
            raise _bad("message to delete not found")
        del self._messages[(chat["id"], mid)]
        return True

    def _m_deleteMessages(self, p: _Params, files: _Files, names: _Names) -> Any:
        chat = self._chat(p)
        ids = p.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a non-empty array of at most 100 identifiers")
        for mid in ids:
            self._messages.pop((chat["id"], mid), None)
        return True

    def _m_setMessageReaction(self, p: _Params, files: _Files, names: _Names) -> Any:
        chat = self._chat(p)
        if (chat["id"], p.get("message_id")) not in self._messages:
            raise _bad("message to react not found")
        return True

    def _m_answerCallbackQuery(self, p: _Params, files: _Files, names: _Names) -> Any:
        query = self._callback_queries.get(str(p.get("callback_query_id") or ""))
        if query is None or query["answer"] is not None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        query["answer"] = {k: v for k, v in p.items() if k != "callback_query_id"}
        return True

    def _invoice(self, p: dict[str, Any]) -> dict[str, Any]:
        """Validate what sendInvoice and createInvoiceLink share; the Invoice object."""
        title, description = str(p.get("title") or ""), str(p.get("description") or "")
        payload, currency = str(p.get("payload") or ""), str(p.get("currency") or "")
        if not 1 <= len(title) <= 32:
            raise _bad("TITLE_INVALID" if title else "title is empty")
        if not 1 <= len(description) <= 255:
            raise _bad("DESCRIPTION_INVALID" if description else "description is empty")
        if not 1 <= len(payload.encode()) <= 128:
            raise _bad("PAYLOAD_INVALID" if payload else "payload is empty")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise _bad("CURRENCY_INVALID")
        prices = p.get("prices")
        if (
            not isinstance(prices, list)
            or not prices
            or not all(
                isinstance(x, dict) and isinstance(x.get("amount"), int) and x.get("label") for x in prices
            )
        ):
            raise _bad("can't parse prices JSON object")
        if currency == "XTR":
            if p.get("provider_token"):
                raise _bad("PROVIDER_TOKEN_INVALID")  # Stars take no provider token
            if len(prices) != 1:
                raise _bad("STARS_INVOICE_INVALID")  # exactly one price in Stars
        total = sum(x["amount"] for x in prices)
        if total <= 0:
            raise _bad("CURRENCY_TOTAL_AMOUNT_INVALID")
        return {
            "title": title,
            "description": description,
            "start_parameter": str(p.get("start_parameter") or ""),
            "currency": currency,
            "total_amount": total,
        }

    def _m_sendInvoice(self, p: _Params, files: _Files, names: _Names) -> Any:
        chat = self._writable_chat(p)
        invoice = self._invoice(p)
        return self._new_bot_message(chat, p, {"invoice": invoice}, self._markup(p))

    def _m_createInvoiceLink(self, p: _Params, files: _Files, names: _Names) -> Any:
        self._invoice(p)
        return "https://t.me/$" + secrets.token_urlsafe(24)

    def _m_answerPreCheckoutQuery(self, p: _Params, files: _Files, names: _Names) -> Any:
        query = self._pre_checkout.get(str(p.get("pre_checkout_query_id") or ""))
        if query is None or query["answer"] is not None:
            raise _bad("QUERY_ID_INVALID")
        ok = p.get("ok")
        if not isinstance(ok, bool):
            raise _bad("ok is empty")
        if not ok and not p.get("error_message"):
            raise _bad("ERROR_MESSAGE_EMPTY")
        query["answer"] = {"ok": ok, "error_message": p.get("error_message")}
        return True

    def _m_refundStarPayment(self, p: _Params, files: _Files, names: _Names) -> Any:
        charge = self._charges.get(str(p.get("telegram_payment_charge_id") or ""))
        if charge is None or charge["user_id"] != p.get("user_id"):
            raise _bad("CHARGE_NOT_FOUND")
        if charge["refunded"]:
            raise _bad("CHARGE_ALREADY_REFUNDED")
        charge["refunded"] = True
        user = self._users.get(charge["user_id"]) or {
            "id": charge["user_id"],
            "is_bot": False,
            "first_name": "Тест",
        }
        self._star_transactions.append(
            {
                "id": p["telegram_payment_charge_id"],
                "amount": charge["amount"],
                "date": int(time.time()),
                "receiver": _partner(user, charge["payload"]),
            }
        )
        return True

    def _m_getStarTransactions(self, p: _Params, files: _Files, names: _Names) -> Any:
        offset = int(p.get("offset") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        return {"transactions": copy.deepcopy(self._star_transactions[offset : offset + limit])}

    def _m_getChatMember(self, p: _Params, files: _Files, names: _Names) -> Any:
        chat = self._chat(p)
        user_id = p.get("user_id")
        user = self._users.get(user_id) if isinstance(user_id, int) else None
        if user is None:
            raise _bad("user not found")
        status = self._members.get((chat["id"], user_id))
        if status is None:
            status = (
                "member"
                if chat["type"] == "private" and chat["id"] in (user_id, self.bot_user["id"])
                else "left"
            )
        member: dict[str, Any] = {"status": status, "user": dict(user)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "kicked":
            member["until_date"] = 0
        elif status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": False,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": False,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                    "can_send_welcome_messages": False,
                }
            )
        return member

    def _m_getFile(self, p: _Params, files: _Files, names: _Names) -> Any:
        file_id = str(p.get("file_id") or "")
        if not file_id:
            raise _bad("file_id is empty")
        entry = self._files.get(file_id)
        if entry is None:
            raise _bad("wrong file_id or the file is temporarily unavailable")
        if entry.file_size is not None and entry.file_size > DOWNLOAD_MAX:
            raise _bad("file is too big")
        result: dict[str, Any] = {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_path": entry.file_path,
        }
        if entry.file_size is not None:
            result["file_size"] = entry.file_size
        return result


# --------------------------------------------------------------------------------------------
# Helpers


async def _read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
    """Params from the query string and a JSON, url-encoded or multipart body; files from parts."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the JSON body must be an object")
            raw.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    if value.filename:
                        names[key] = value.filename
                else:
                    raw[key] = value
    params = {key: _decode_param(key, value) for key, value in raw.items()}
    for key, value in params.items():
        if isinstance(value, str) and value.startswith("attach://"):
            part = value[len("attach://") :]
            if part in files and key not in files:
                files[key] = files[part]
                if part in names:
                    names[key] = names[part]
    return params, files, names


def _predicate(match: str | Callable[[Call], bool]) -> Callable[[Call], bool]:
    if callable(match):

        def safe(call: Call) -> bool:
            # A predicate written for one method (c.params["chat_id"]) must not blow up on getMe.
            try:
                return bool(match(call))
            except (KeyError, IndexError, TypeError, AttributeError):
                return False

        return safe
    name = match.lower()
    return lambda call: call.method.lower() == name


def _call_chat(call: Call) -> Any:
    result = call.result
    if isinstance(result, dict) and isinstance(result.get("chat"), dict):
        return result["chat"].get("id")
    return call.params.get("chat_id")


def _commands_key(scope: Any, language_code: str) -> tuple[str, str]:
    scope = scope if isinstance(scope, dict) and scope else {"type": "default"}
    return json.dumps(scope, sort_keys=True), language_code or ""


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str) or not button["text"]:
        raise _bad("can't parse inline keyboard button: Text must be non-empty")
    if not _INLINE_ACTIONS & button.keys():
        raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_MAX:
            raise _bad("BUTTON_DATA_INVALID")
    if "url" in button and (not isinstance(button["url"], str) or not button["url"].strip()):
        raise _bad("BUTTON_URL_INVALID")


def _callback_datas(msg: dict[str, Any]) -> set[str]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return {b["callback_data"] for row in rows for b in row if isinstance(b, dict) and "callback_data" in b}


def _shallow_message(msg: dict[str, Any]) -> dict[str, Any]:
    """A replied-to message as Telegram nests it: one level deep."""
    out = copy.deepcopy(msg)
    out.pop("reply_to_message", None)
    return out


def _photo_size(entry: _File) -> dict[str, Any]:
    size: dict[str, Any] = {
        "file_id": entry.file_id,
        "file_unique_id": entry.file_unique_id,
        "width": entry.width,
        "height": entry.height,
    }
    if entry.file_size is not None:
        size["file_size"] = entry.file_size
    return size


def _document_obj(entry: _File) -> dict[str, Any]:
    doc: dict[str, Any] = {"file_id": entry.file_id, "file_unique_id": entry.file_unique_id}
    if entry.file_name:
        doc["file_name"] = entry.file_name
    if entry.mime_type:
        doc["mime_type"] = entry.mime_type
    if entry.file_size is not None:
        doc["file_size"] = entry.file_size
    return doc


def _main_file_id(msg: dict[str, Any], kind: str) -> str | None:
    media = msg.get(kind)
    if isinstance(media, list):
        return media[-1]["file_id"] if media else None
    return media.get("file_id") if isinstance(media, dict) else None


def _partner(user: dict[str, Any], payload: str) -> dict[str, Any]:
    return {
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": dict(user),
        "invoice_payload": payload,
    }
