"""Server-sent events (`text/event-stream`) parsed by the WHATWG rules, incrementally, with no I/O.

Lines end with CRLF, LF or CR (only those: a JSON string may hold U+2028, which `str.splitlines` —
and so `httpx`'s `iter_lines` — would break on). A blank line dispatches the event being built;
`event:` names it (default `message`), each `data:` adds a line to its data, `id:` sets the last
event id (kept across events; one with a NUL is ignored), `retry:` (digits only) the reconnection
delay in milliseconds; lines starting with `:` are comments (keep-alives); other fields are ignored.
One space after the colon is dropped. An event with no data is not dispatched, and an event cut
off by the end of the stream is discarded.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str
    data: str
    #: the last event id when the event was dispatched ("" when none was set)
    id: str


class SSEDecoder:
    """Feed it the bytes of a stream as they come; it returns the events they complete."""

    def __init__(self, last_event_id: str = "") -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._trailing_cr = False
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._id_buffer = last_event_id
        #: the stream's last event id (updated when an event ends), for `Last-Event-ID` on reconnect
        self.last_event_id = last_event_id
        #: the server's `retry:` in milliseconds (None until it sends one)
        self.retry: int | None = None
        #: lines seen so far (comments and fields too): whether the stream is alive
        self.lines = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        return self._feed_text(self._text.decode(chunk))

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._trailing_cr:
            self._trailing_cr = False
            text = text.removeprefix("\n")  # the LF of a CRLF split across two chunks
        events: list[ServerSentEvent] = []
        start = 0
        length = len(text)
        while start < length:
            cr, lf = text.find("\r", start), text.find("\n", start)
            if cr < 0 and lf < 0:
                break
            end = lf if cr < 0 or (0 <= lf < cr) else cr
            line = self._buffer + text[start:end]
            self._buffer = ""
            start = end + 1
            if text[end] == "\r":
                if start < length:
                    if text[start] == "\n":
                        start += 1
                else:
                    self._trailing_cr = True
            if (event := self._line(line)) is not None:
                events.append(event)
        self._buffer += text[start:]
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        self.lines += 1
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry":
            if value and value.isascii() and value.isdigit():
                self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self.last_event_id = self._id_buffer
        event, data = self._event, self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerSentEvent(event=event or "message", data="\n".join(data), id=self.last_event_id)
