"""Fuzzing `/graphql` (issue 16) with documents generated from the schema, hostile variables, hostile
document shapes and hostile HTTP envelopes.

- `test_generated_documents`: queries and mutations from the exported SDL by `hypothesis-graphql`
  (valid ones, and ones with exactly one schema violation), `JSON` arguments included.
- `test_operations_with_generated_variables`: one document per root field, its arguments passed as
  variables drawn from the schema's input types with hostile leaves mixed in (lone surrogates, NUL,
  integers past 32 and 64 bits, NaN and infinities, JSON nested hundreds deep, wrong types, unknown
  fields, unsafe URLs) and real ids and models, so requests get past "unknown model" and reach the
  services.
- `test_valid_operations_with_one_hostile_field`: a valid operation of each root field (an image, speech,
  a short video, a lookup, a cancel) with one value replaced, added or removed — so the hostile value
  is the only thing wrong when the request reaches validation and the services.
- `test_hostile_document_shapes`: aliases, depth (through introspection too), root fields, fragments
  that double at each level or spread in a cycle, documents near and past the size and token limits,
  several operations — around each limit, with and without a key.
- `test_hostile_envelopes`: the HTTP request itself: bodies that are not a JSON object, invalid
  UTF-8, JSON nested a thousand deep, numbers JSON cannot hold, wrong `query`/`variables` types,
  batches, odd content types, GET with query parameters.

Every answer must: not be a 5xx; contain no stack trace; carry no `INTERNAL_ERROR` (the code
`format_error` gives an unexpected exception); and leave nothing at ERROR in the server's log.
Bounded by the `ci` profile (conftest); `MEDIAGATE_FUZZ_PROFILE=long` explores much further.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import graphql
import hypothesis_graphql
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from mediagate.api.graphql import export_schema
from tests.fuzz.conftest import FuzzServer, fuzz_settings, is_long

#: examples per test (each example is one request); measured: the file runs in ~15 s (≈1,800 requests)
CI_EXAMPLES = 300
LONG_EXAMPLES = 3000
FUZZ = fuzz_settings(max_examples=LONG_EXAMPLES if is_long() else CI_EXAMPLES)

SDL = export_schema()
SCHEMA = graphql.build_schema(SDL)

STACK_TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+")

# --- values -----------------------------------------------------------------------------------------

#: placeholders for the server's real ids (`FuzzServer.known`), swapped in by `aim` before sending
REAL = {"REALxVIDEO": "video", "REALxIMAGE": "image"}
MODELS = ["flux-dev", "gpt-image-1", "dall-e-3", "imagen-4-fast", "tts-1", "eleven-v3", "seedance 2.0", "kling-v2.1"]
PROVIDERS = ["sandbox", "seedance", "kling", "bfl", "openai", "elevenlabs", "nope"]
BIG_INTEGERS = [2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**70, -(2**31) - 1, -(2**63) - 1, 10**30]
ODD_FLOATS = [float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 5e-324]
HOSTILE_TEXT = [
    "\ud800",  # lone surrogates: valid as JSON escapes, not valid Unicode text
    "a\udfffb",
    "nul\u0000byte",
    "\u202eevil",
    "e\u0301",
    "𝕏𝕏𝕏",
    "",
    " ",
    "' OR 1=1 --",
    "[sandbox:fail]",
    "x" * 5000,
]
URLS = [
    "https://example.invalid/a.png",
    "http://127.0.0.1/a.png",
    "http://LOCALHOST./a.png",
    "http://sub.localhost/a.png",
    "http://[::1]/a.png",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/a.png",
    "file:///etc/passwd",
    "ftp://example.invalid/a.png",
    "http://é.example/a.png",
    "not a url",
]
NAME = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,8}", fullmatch=True)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(BIG_INTEGERS)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(HOSTILE_TEXT)
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAME, inner, max_size=4), max_leaves=12
)


def nested(depth: int, leaf: Any = 1) -> Any:
    """`depth` levels of objects and lists around `leaf` (JSON nesting without recursion to build)."""
    value = leaf
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


#: JSON of any shape: ordinary values, or nested hundreds deep (around json_max_depth and far past it)
json_any = json_values | st.sampled_from([2, 31, 32, 33, 64, 255, 300]).map(nested)


def to_node(value: Any) -> graphql.ValueNode:
    """A GraphQL literal for a JSON-like value (keys that are not GraphQL names are renamed)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if isinstance(value, float):
        return graphql.FloatValueNode(value=repr(value))
    if isinstance(value, str):
        return graphql.StringValueNode(value=value)
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(to_node(item) for item in value))
    fields = tuple(
        graphql.ObjectFieldNode(
            name=graphql.NameNode(value=f"k{i}_{re.sub(r'[^_0-9A-Za-z]', '_', k)}"), value=to_node(v)
        )
        for i, (k, v) in enumerate(value.items())
    )
    return graphql.ObjectValueNode(fields=fields)


#: the `JSON` scalar (`options`) as literals, for hypothesis-graphql
json_literals = json_any.map(to_node)


def strings_for(field: str) -> st.SearchStrategy[Any]:
    """What a `String`/`ID` argument or input field of this name gets: real values where it matters."""
    generic = st.text(max_size=20) | st.sampled_from(HOSTILE_TEXT)
    if field in ("model",):
        return st.sampled_from(MODELS) | generic
    if field in ("provider",):
        return st.sampled_from(PROVIDERS + MODELS) | generic
    if field == "id":
        return st.sampled_from(sorted(REAL)) | generic
    if field in ("image", "imageUrl", "audio", "webhookUrl"):
        return st.sampled_from(URLS) | generic
    if field in ("resolution",):
        return st.sampled_from(["480p", "720p", "1080p", "4k"]) | generic
    if field in ("aspectRatio",):
        return st.sampled_from(["16:9", "1:1", "9:16", "0:0"]) | generic
    if field in ("voice",):
        return st.sampled_from(["alloy", "default"]) | generic
    return generic


def variables_for(type_: graphql.GraphQLInputType, field: str = "") -> st.SearchStrategy[Any]:
    """JSON for a variable of `type_`: mostly what the type allows, sometimes anything at all."""
    nullable = not isinstance(type_, graphql.GraphQLNonNull)
    inner = graphql.get_nullable_type(type_)  # type: ignore[arg-type]
    if isinstance(inner, graphql.GraphQLList):
        base: st.SearchStrategy[Any] = st.lists(variables_for(inner.of_type, field), max_size=3)
    elif isinstance(inner, graphql.GraphQLInputObjectType):
        base = input_objects(inner)
    elif isinstance(inner, graphql.GraphQLEnumType):
        base = st.sampled_from(sorted(inner.values)) | st.sampled_from(["video", "", "VIDEO "])
    elif inner.name in ("String", "ID"):
        base = strings_for(field)
    elif inner.name == "Int":
        base = st.integers(-10, 10**6) | st.sampled_from(BIG_INTEGERS)
    elif inner.name == "Float":
        base = st.sampled_from([1, 5, 10.0]) | st.floats() | st.sampled_from(ODD_FLOATS + BIG_INTEGERS)
    elif inner.name == "Boolean":
        base = st.booleans()
    else:  # JSON
        base = json_any
    if nullable:
        base = st.none() | base
    return st.one_of(base, base, base, json_scalars)  # a wrong type now and then


def input_objects(type_: graphql.GraphQLInputObjectType) -> st.SearchStrategy[dict[str, Any]]:
    required = {n: variables_for(f.type, n) for n, f in type_.fields.items() if graphql.is_required_input_field(f)}
    optional = {n: variables_for(f.type, n) for n, f in type_.fields.items() if n not in required}
    known = st.fixed_dictionaries(required, optional=optional)
    unknown = st.dictionaries(NAME, json_scalars, max_size=2)  # fields the type does not have
    return st.one_of(known, known, known, st.tuples(known, unknown).map(lambda kv: {**kv[1], **kv[0]}))


def aim(value: Any, server: FuzzServer) -> Any:
    """`value` with the placeholders replaced by the server's real ids."""
    if isinstance(value, str):
        return server.known[REAL[value]] if value in REAL else value
    if isinstance(value, list):
        return [aim(item, server) for item in value]
    if isinstance(value, dict):
        return {key: aim(item, server) for key, item in value.items()}
    return value


# --- documents ----------------------------------------------------------------------------------------

#: one document per root field, every argument a variable (selections: scalars, nested objects, the
#: leaf-or-object `metadata`/`error` forms)
SELECTION = "id status type model prompt progress creditCost metadata error outputs { url bytes } metadataJson"
VARIABLE_DOCUMENTS = {
    "generation": f"query Q($id: ID!) {{ generation(id: $id) {{ {SELECTION} }} }}",
    "providers": "query Q($type: GenerationType!) { providers(type: $type) { id options { name allowedValues } } }",
    "generate": f"mutation M($input: GenerateInput!) {{ generate(input: $input) {{ {SELECTION} }} }}",
    "videoCreate": "mutation M($input: VideoCreateInput!) { videoCreate(input: $input) { id status creditCost } }",
    "cancelGeneration": "mutation M($id: ID!) { cancelGeneration(id: $id) }",
}


def root_field(name: str) -> graphql.GraphQLField:
    for root in (SCHEMA.query_type, SCHEMA.mutation_type):
        if root is not None and name in root.fields:
            return root.fields[name]
    raise KeyError(name)


def test_every_root_field_has_a_variables_document() -> None:
    roots = [SCHEMA.query_type, SCHEMA.mutation_type]
    assert {name for root in roots if root is not None for name in root.fields} == set(VARIABLE_DOCUMENTS)


@st.composite
def operations_with_variables(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(VARIABLE_DOCUMENTS)))
    field = root_field(name)
    variables = {arg: draw(variables_for(spec.type, arg)) for arg, spec in field.args.items()}
    if draw(st.booleans()):  # variables the document does not declare, or none of those it needs
        variables = draw(st.sampled_from([{}, {**variables, "extra": 1}, variables]))
    return {
        "query": VARIABLE_DOCUMENTS[name],
        "variables": variables,
        "operationName": draw(st.sampled_from(["Q", "M", None])),
    }


#: valid operations (cheap ones: an image, speech, a 5 s 480p video) that `one_hostile_field` breaks in
#: exactly one place, so the hostile value is the only thing wrong when the request reaches the services
TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "generate image": (
        VARIABLE_DOCUMENTS["generate"],
        {"input": {"type": "IMAGE", "model": "flux-dev", "input": {"text": "a lighthouse"}, "options": {"seed": 7}}},
    ),
    "generate speech": (
        VARIABLE_DOCUMENTS["generate"],
        {"input": {"type": "AUDIO", "model": "tts-1", "input": {"text": "Hello", "voice": "alloy"}}},
    ),
    "videoCreate": (
        VARIABLE_DOCUMENTS["videoCreate"],
        {"input": {"prompt": "a lighthouse", "model": "seedance 2.0", "duration": 5, "resolution": "480p", "seed": 1}},
    ),
    "generation": (VARIABLE_DOCUMENTS["generation"], {"id": "REALxVIDEO"}),
    "cancelGeneration": (VARIABLE_DOCUMENTS["cancelGeneration"], {"id": "REALxIMAGE"}),
    "providers": (VARIABLE_DOCUMENTS["providers"], {"type": "AUDIO"}),
}
#: fields a template may gain (the input types' own, and options the catalog knows)
EXTRA_FIELDS = [
    "webhookUrl",
    "options",
    "priority",
    "provider",
    "image",
    "images",
    "audio",
    "negativePrompt",
    "quality",
]
HOSTILE_LEAVES = st.sampled_from([*HOSTILE_TEXT, *BIG_INTEGERS, *ODD_FLOATS, *URLS, None, True, [], {}])


def locations(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (dict keys and list indexes)."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found.append((*prefix, key))
        found += locations(item, (*prefix, key))
    return found


def hostile_like(current: Any, field: str) -> st.SearchStrategy[Any]:
    """A replacement for `current`: mostly a hostile value of its own kind, sometimes anything."""
    if isinstance(current, bool):
        same: st.SearchStrategy[Any] = st.sampled_from([0, 1, "true", None])
    elif isinstance(current, int | float):
        same = st.sampled_from([n for n in BIG_INTEGERS if abs(n) > 2**32] + ODD_FLOATS)
    elif isinstance(current, str):
        same = strings_for(field) | st.sampled_from(HOSTILE_TEXT)
    else:
        same = json_any
    return st.one_of(same, same, HOSTILE_LEAVES, json_any)


def dig(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@st.composite
def one_hostile_field(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(TEMPLATES)))
    document, template = TEMPLATES[name]
    variables = json.loads(json.dumps(template))
    everywhere = locations(variables)
    leaves = [p for p in everywhere if not isinstance(dig(variables, p), dict | list)]
    path = draw(st.sampled_from(leaves) if leaves and draw(st.integers(0, 4)) else st.sampled_from(everywhere))
    parent = variables
    for key in path[:-1]:
        parent = parent[key]
    field = path[-1] if isinstance(path[-1], str) else ""
    value = draw(hostile_like(parent[path[-1]], field))
    how = draw(st.sampled_from(["replace", "replace", "replace", "replace", "add", "delete"]))
    if how == "replace":
        parent[path[-1]] = value
    elif how == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(EXTRA_FIELDS) | NAME)] = value
    else:
        parent.append(value)
    return {"query": document, "variables": variables}


def aliases(count: int, selection: str, operation: str = "query") -> str:
    return f"{operation} {{ " + " ".join(f"a{i}: {selection}" for i in range(count)) + " }"


def introspection_depth(depth: int) -> str:
    inner = "name"
    for _ in range(depth):
        inner = f"ofType {{ {inner} }}"
    return f"{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}"


def type_depth(depth: int) -> str:
    """`__type { fields { type { fields { type … } } } }`: two levels of depth per step."""
    return '{ __type(name: "Query") { ' + "fields { type { " * depth + "name" + " } }" * depth + " } }"


def fragment_doubling(levels: int) -> str:
    parts = ["fragment F0 on Query { __typename }"]
    parts += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)]
    return " ".join(parts) + f" query {{ ...F{levels} }}"


IMAGE_INPUT = '{type: IMAGE, model: "flux-dev", input: {text: "fuzz"}}'
SHAPES: dict[str, st.SearchStrategy[str]] = {
    "typename aliases": st.sampled_from([1, 29, 30, 31, 200, 5000]).map(lambda n: aliases(n, "__typename")),
    "query aliases": st.sampled_from([2, 30, 31, 100]).map(lambda n: aliases(n, 'generation(id: "REALxVIDEO") { id }')),
    "providers aliases": st.sampled_from([2, 21, 31]).map(lambda n: aliases(n, "providers(type: IMAGE) { id }")),
    # (at most a little past the limit: below it, every alias creates a task)
    "generate aliases": st.sampled_from([1, 2, 31]).map(
        lambda n: aliases(n, f"generate(input: {IMAGE_INPUT}) {{ id }}", "mutation")
    ),
    "cancel aliases": st.sampled_from([2, 31]).map(
        lambda n: aliases(n, 'cancelGeneration(id: "REALxIMAGE")', "mutation")
    ),
    "introspection depth": st.sampled_from([1, 10, 11, 12, 13, 40, 300]).map(introspection_depth),
    "selection depth": st.sampled_from([1, 7, 8, 30]).map(type_depth),
    "fragment doubling": st.sampled_from([1, 5, 12, 30]).map(fragment_doubling),
    "fragment cycle": st.just("fragment A on Query { ...B } fragment B on Query { ...A } query { ...A }"),
    "document size": st.sampled_from([10, 99_900, 100_100, 400_000]).map(lambda n: "{ __typename }" + " " * n),
    "comment size": st.sampled_from([10, 100_100, 400_000]).map(lambda n: "#" + "x" * n + "\n{ __typename }"),
    "tokens": st.sampled_from([9_000, 10_100, 60_000]).map(lambda n: "{ " + "__typename " * n + "}"),
    "root fields": st.sampled_from([20, 21, 40]).map(
        lambda n: "{ " + " ".join(f"p{i}: providers(type: AUDIO) {{ id }}" for i in range(n)) + " }"
    ),
    "many operations": st.integers(1, 40).map(lambda n: " ".join(f"query O{i} {{ __typename }}" for i in range(n))),
    "directives": st.sampled_from(
        [
            "{ __typename @include(if: true) @skip(if: false) }",
            "{ __typename @nope }",
            "{ __typename " + "@include(if: true) " * 500 + "}",
            "query ($v: Boolean!) { __typename @include(if: $v) }",
        ]
    ),
    "syntax": st.sampled_from(["{", "}", "{ a", "query {}", "", " ", '{ generation(id: """) }', "{ __typename }" * 2]),
    "subscription": st.just('subscription { generationUpdated(id: "REALxVIDEO") { id } }'),
    "literal nesting": st.sampled_from([31, 33, 400]).map(
        lambda d: (
            'mutation { generate(input: {type: IMAGE, input: {text: "x"}, options: '
            + "[" * d
            + "1"
            + "]" * d
            + "}) { id } }"
        )
    ),
    "big literals": st.sampled_from(["2147483648", "9223372036854775808", "1" + "0" * 400, "1e999", "-0"]).map(
        lambda n: 'mutation { videoCreate(input: {prompt: "x", seed: ' + n + ", duration: " + n + "}) { id } }"
    ),
}


@st.composite
def hostile_shapes(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(SHAPES)))
    return name, draw(SHAPES[name])


#: request bodies that are not what a GraphQL client sends: (content type, body bytes)
ENVELOPES: list[tuple[str, bytes]] = [
    ("application/json", b"[]"),
    ("application/json", b'[{"query": "{ __typename }"}]'),
    ("application/json", b'"{ __typename }"'),
    ("application/json", b"1"),
    ("application/json", b"null"),
    ("application/json", b"true"),
    ("application/json", b""),
    ("application/json", b"{"),
    ("application/json", b'{"query": 1}'),
    ("application/json", b'{"query": ["{ __typename }"]}'),
    ("application/json", b'{"query": null}'),
    ("application/json", b'{"query": "{ __typename }", "variables": []}'),
    ("application/json", b'{"query": "{ __typename }", "variables": "x"}'),
    ("application/json", b'{"query": "{ __typename }", "variables": 1e999}'),
    ("application/json", b'{"query": "{ __typename }", "operationName": 1}'),
    ("application/json", b'{"query": "{ __typename }", "extensions": []}'),
    ("application/json", b'{"query": "{ __typename }", "variables": {"a": NaN}}'),
    ("application/json", b'{"query": "{ __typename }", "variables": {"a": 123456789012345678901234567890}}'),
    ("application/json", b'{"query": "{ __typename \\ud800 }"}'),
    ("application/json", b'{"query": "{ __typename }", "variables": {"a": "\\udfff"}}'),
    ("application/json", b'{"query": "{ __typename }\xff\xfe"}'),
    ("application/json", b'\xef\xbb\xbf{"query": "{ __typename }"}'),
    ("application/json", b'{"query": "{ __typename }", "query": "{ __schema { queryType { name } } }"}'),
    ("application/json", b"[" * 1000 + b"]" * 1000),
    ("application/json", b'{"query": "{ __typename }", "variables": ' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}"),
    ("application/json; charset=latin-1", b'{"query": "{ __typename }"}'),
    ("application/graphql", b"{ __typename }"),
    ("text/plain", b'{"query": "{ __typename }"}'),
    ("application/x-www-form-urlencoded", b"query=%7B__typename%7D"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query": "{ __typename }"}\r\n--x--\r\n',
    ),
    ("multipart/form-data", b"garbage"),
    ("", b'{"query": "{ __typename }"}'),
]


@st.composite
def envelopes(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, Any]]:
    """(method, content type, body, query parameters)."""
    if draw(st.integers(0, 4)) == 0:  # GET: queries over the query string (and what else people put there)
        params = draw(
            st.fixed_dictionaries(
                {
                    "query": st.sampled_from(
                        ["{ __typename }", 'mutation { cancelGeneration(id: "x") }', "{", b"\xed\xa0\x80", b"\xff"]
                    )
                },
                optional={
                    "variables": st.sampled_from(["{}", "[]", "x", '{"a": NaN}']),
                    "operationName": st.text(max_size=5),
                },
            )
        )
        return "GET", "", b"", params
    content_type, body = draw(st.sampled_from(ENVELOPES))
    return "POST", content_type, body, {}


#: who sends it: mostly the test key; sometimes no key, a wrong one, or a malformed header
AUTHORIZATIONS = [
    "KEY",
    "KEY",
    "KEY",
    "KEY",
    None,
    "Bearer mg_test_nope",
    "Basic admin-secret",
    "Bearer é",
    "Bearer",
    "",
]


# --- sending and checking -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def headers_for(
    server: FuzzServer, authorization: str | None, content_type: str | None = "application/json"
) -> dict[str, str]:
    headers: dict[str, str] = {}
    if content_type:
        headers["Content-Type"] = content_type
    if authorization == "KEY":
        headers["Authorization"] = f"Bearer {server.key}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    return headers


def encode(body: dict[str, Any]) -> bytes:
    """JSON as a client library would send it (escapes keep lone surrogates; NaN as Python writes it)."""
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode("ascii")


def check(server: FuzzServer, mark: int, response: requests.Response, what: str) -> None:
    """The answer and the server's log after one request."""
    problems = []
    if response.status_code >= 500:
        problems.append(f"HTTP {response.status_code}")
    text = response.content.decode("utf-8", "replace")
    if STACK_TRACE.search(text):
        problems.append("a stack trace in the answer")
    try:
        payload = response.json()
    except ValueError:
        payload = None
    errors = payload.get("errors") if isinstance(payload, dict) else None
    for error in errors if isinstance(errors, list) else []:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and extensions.get("code") == "INTERNAL_ERROR":
            problems.append(f"an INTERNAL_ERROR in the answer: {error}")
    logged = server.errors.since(mark, settle=0.3 if problems else 0.0)
    if logged:
        problems.append("the server logged:\n" + "\n".join(map(str, logged)))
    if problems:
        raise AssertionError(
            f"{what}\n→ {response.status_code} {text[:1500]}\n" + "\n".join(f"- {problem}" for problem in problems)
        )


def post(server: FuzzServer, session: requests.Session, body: bytes, headers: dict[str, str], what: str) -> None:
    mark = server.errors.mark()
    response = session.post(f"{server.url}/graphql", data=body, headers=headers, timeout=30)
    check(server, mark, response, what)


def reproduction(body: bytes, headers: dict[str, str]) -> str:
    shown = " ".join(f"-H {json.dumps(f'{k}: {v}')}" for k, v in headers.items())
    excerpt = body[:600].decode("utf-8", "backslashreplace")
    return f"curl -X POST $URL/graphql {shown} --data-binary {json.dumps(excerpt)}" + (" …" if len(body) > 600 else "")


# --- the tests ------------------------------------------------------------------------------------------

generated = hypothesis_graphql.from_schema(
    SCHEMA, custom_scalars={"JSON": json_literals}
) | hypothesis_graphql.from_schema(
    SCHEMA, custom_scalars={"JSON": json_literals}, mode=hypothesis_graphql.Mode.NEGATIVE
)


@FUZZ
@given(document=generated, authorization=st.sampled_from(AUTHORIZATIONS))
def test_generated_documents(
    fuzz_server: FuzzServer, http_session: requests.Session, document: str, authorization: str | None
) -> None:
    headers = headers_for(fuzz_server, authorization)
    body = encode({"query": document})
    post(fuzz_server, http_session, body, headers, reproduction(body, headers))


@FUZZ
@given(operation=operations_with_variables(), authorization=st.sampled_from(["KEY", "KEY", "KEY", None]))
def test_operations_with_generated_variables(
    fuzz_server: FuzzServer, http_session: requests.Session, operation: dict[str, Any], authorization: str | None
) -> None:
    headers = headers_for(fuzz_server, authorization)
    body = encode(aim(operation, fuzz_server))
    post(fuzz_server, http_session, body, headers, reproduction(body, headers))


@FUZZ
@given(operation=one_hostile_field())
def test_valid_operations_with_one_hostile_field(
    fuzz_server: FuzzServer, http_session: requests.Session, operation: dict[str, Any]
) -> None:
    headers = headers_for(fuzz_server, "KEY")
    body = encode(aim(operation, fuzz_server))
    post(fuzz_server, http_session, body, headers, reproduction(body, headers))


@FUZZ
@given(shape=hostile_shapes(), authorization=st.sampled_from(["KEY", "KEY", None]))
def test_hostile_document_shapes(
    fuzz_server: FuzzServer, http_session: requests.Session, shape: tuple[str, str], authorization: str | None
) -> None:
    name, document = shape
    for placeholder, known in REAL.items():
        document = document.replace(placeholder, fuzz_server.known[known])
    headers = headers_for(fuzz_server, authorization)
    body = encode({"query": document})
    post(fuzz_server, http_session, body, headers, f"[{name}] {reproduction(body, headers)}")


@FUZZ
@given(envelope=envelopes(), authorization=st.sampled_from(["KEY", "KEY", None]))
def test_hostile_envelopes(
    fuzz_server: FuzzServer,
    http_session: requests.Session,
    envelope: tuple[str, str, bytes, dict[str, Any]],
    authorization: str | None,
) -> None:
    method, content_type, body, params = envelope
    headers = headers_for(fuzz_server, authorization, content_type or None)
    mark = fuzz_server.errors.mark()
    if method == "GET":
        response = http_session.get(f"{fuzz_server.url}/graphql", params=params, headers=headers, timeout=30)
        what = f"curl $URL/graphql?{urlencode(params)}"
    else:
        response = http_session.post(f"{fuzz_server.url}/graphql", data=body, headers=headers, timeout=30)
        what = reproduction(body, headers)
    check(fuzz_server, mark, response, what)
