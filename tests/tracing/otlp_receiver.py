"""Real OTLP trace receivers on loopback (HTTP and gRPC), decoding with the OTLP protobufs.

Good enough to stand in for a collector: the HTTP one accepts ``POST /v1/traces``
with an ``ExportTraceServiceRequest`` (protobuf, gzip or not), the gRPC one the
``TraceService/Export`` call; both keep the spans and the request headers, and
answer as OTLP asks. ``refuse`` makes the HTTP one answer 400 instead.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags, Status

from tests.tracing.trees import Span

_KINDS = {
    ProtoSpan.SPAN_KIND_INTERNAL: "internal",
    ProtoSpan.SPAN_KIND_PRODUCER: "producer",
    ProtoSpan.SPAN_KIND_CONSUMER: "consumer",
}


class Receiver:
    """What the receiver got: spans, and the resources they came with."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests = 0
        self.refuse = False
        self.services: set[str] = set()
        self.resources: list[dict[str, object]] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""
        self._lock = threading.Lock()

    def take(self, body: bytes | ExportTraceServiceRequest) -> None:
        if isinstance(body, ExportTraceServiceRequest):
            request = body
        else:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
        with self._lock:
            self.requests += 1
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                self.resources.append(resource)
                if "service.name" in resource:
                    self.services.add(str(resource["service.name"]))
                attributes = tuple(sorted(resource.items()))
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(_span(span, attributes) for span in scope_spans.spans)


def _value(value: object) -> object:
    kind = value.WhichOneof("value")  # type: ignore[attr-defined]
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)  # type: ignore[attr-defined]
    return getattr(value, kind)


def _span(span: ProtoSpan, resource: tuple[tuple[str, object], ...]) -> Span:
    return Span(
        int.from_bytes(span.trace_id, "big"),
        int.from_bytes(span.span_id, "big"),
        int.from_bytes(span.parent_span_id, "big") if span.parent_span_id else 0,
        span.name,
        _KINDS[span.kind],
        span.status.code == Status.STATUS_CODE_ERROR,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        {attribute.key: _value(attribute.value) for attribute in span.attributes},
        tuple(event.name for event in span.events),
        span.status.message,
        resource,
        bool(span.flags & SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK),
    )


@contextmanager
def otlp_receiver(port: int = 0) -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 for the block; ``.url`` is its base.

    ``port``: the port to listen on (default: a free one), so that a collector can be
    down for a while and then up again at the same address.
    """
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver._lock:
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces" or receiver.refuse:
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            receiver.take(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def otlp_grpc_receiver() -> Iterator[Receiver]:
    """A gRPC receiver on 127.0.0.1 (a free port) for the block; ``.url`` is ``http://host:port``."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    receiver = Receiver()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(
            self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
        ) -> ExportTraceServiceResponse:
            with receiver._lock:
                receiver.headers.append({k: str(v) for k, v in context.invocation_metadata()})
            receiver.take(request)
            return ExportTraceServiceResponse()

    from concurrent.futures import ThreadPoolExecutor

    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        server.stop(grace=None).wait()
