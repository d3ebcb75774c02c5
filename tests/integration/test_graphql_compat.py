"""The GraphQL door's pure parts: the leaf-selection document rewrite and the input translation."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse, print_ast

from mediagate.api.graphql import schema
from mediagate.api.graphql.compat import rewrite_leaf_selections
from mediagate.api.graphql.translate import generate_input, graphql_field, video_create_input
from mediagate.api.graphql.types import (
    GenerateInput,
    GenerationContentInput,
    GenerationType,
    Priority,
    VideoCreateInput,
)
from mediagate.catalog import Catalog, ModelSpec, ProviderSpec
from mediagate.domain.media import MediaType, TaskType
from mediagate.errors import InvalidParameter


def rewritten(query: str) -> str:
    return print_ast(rewrite_leaf_selections(schema._schema, parse(query)))


def test_leaf_metadata_and_error_become_aliased_companions() -> None:
    out = rewritten("query { generation(id: 1) { id metadata error errorCode } }")
    assert "metadata: metadataJson" in out and "error: errorMessage" in out and "errorCode" in out


def test_sub_selections_are_left_alone() -> None:
    query = "query { generation(id: 1) { metadata { width } error { code message } } }"
    assert rewritten(query) == print_ast(parse(query))


def test_existing_alias_is_kept() -> None:
    out = rewritten("query { generation(id: 1) { m: metadata e: error } }")
    assert "m: metadataJson" in out and "e: errorMessage" in out


def test_fragments_and_mutations_are_covered() -> None:
    out = rewritten(
        """
        mutation M($input: GenerateInput!) { generate(input: $input) { ...F ... on Generation { error } } }
        fragment F on Generation { metadata }
        """
    )
    assert "metadata: metadataJson" in out and "error: errorMessage" in out


def test_fields_of_other_types_are_not_touched() -> None:
    # `GenerationError` has no such fields, but a same-named field elsewhere must stay as written
    query = "query { providers(type: VIDEO) { id options { name } } generation(id: 1) { error { message } } }"
    assert rewritten(query) == print_ast(parse(query))


# --- translation --------------------------------------------------------------------------------------


def catalog() -> Catalog:
    models = [
        ModelSpec(
            id="vid-a", provider="acme", type=MediaType.VIDEO, aliases=["a1"], task_types=[TaskType.TEXT_TO_VIDEO]
        ),
        ModelSpec(id="gen-3", provider="runway", type=MediaType.VIDEO, task_types=[TaskType.IMAGE_TO_VIDEO]),
    ]
    return Catalog([ProviderSpec(name="acme"), ProviderSpec(name="runway"), ProviderSpec(name="luma")], models)


def gen(options: Any = None, **content: Any) -> GenerateInput:
    return GenerateInput(
        type=GenerationType.VIDEO,
        input=GenerationContentInput(**({"text": "hi"} | content)),
        options=options,
        priority=Priority.SPEED,
        webhook_url="https://example.com/h",
    )


def test_standard_options_become_request_fields() -> None:
    options = {
        "duration": 10,
        "resolution": "1080p",
        "aspectRatio": "16:9",
        "negativePrompt": "blur",
        "seed": 42,
        "voice": "rachel",
        "outputFormat": "mp4",
        "generateAudio": True,
        "style": "cinematic",
        "motionIntensity": "high",
    }
    inp, where = generate_input(gen(options, image="https://x/y.png", audio="https://x/a.wav"), catalog())
    assert inp.prompt == "hi" and inp.image_urls == ["https://x/y.png"] and inp.audio_url == "https://x/a.wav"
    assert (inp.duration, inp.resolution, inp.aspect_ratio, inp.negative_prompt) == (10, "1080p", "16:9", "blur")
    assert (inp.seed, inp.voice, inp.output_format, inp.generate_audio) == (42, "rachel", "mp4", True)
    assert inp.options == {"style": "cinematic", "motionIntensity": "high"}
    assert inp.type is MediaType.VIDEO and inp.priority is not None and inp.priority.value == "speed"
    assert inp.callback_url == "https://example.com/h"
    assert where["aspect_ratio"] == "options.aspectRatio" and where["prompt"] == "input.text"


def test_options_model_names_a_known_model_else_stays_an_option() -> None:
    inp, _ = generate_input(gen({"model": "gen-3"}), catalog())
    assert inp.model == "gen-3" and inp.options == {}
    inp, _ = generate_input(gen({"model": "turbo-x"}), catalog())
    assert inp.model is None and inp.options == {"model": "turbo-x"}


def test_video_create_model_may_name_a_provider() -> None:
    inp, _ = video_create_input(VideoCreateInput(prompt="sunset", model="luma", duration=9), catalog())
    assert inp.provider == "luma" and inp.model is None and inp.duration == 9 and inp.type is MediaType.VIDEO
    inp, _ = video_create_input(VideoCreateInput(prompt="sunset", model="a1", image_url="https://x/i.png"), catalog())
    assert inp.model == "a1" and inp.image_urls == ["https://x/i.png"]
    inp, _ = video_create_input(VideoCreateInput(prompt="sunset", model="nope"), catalog())
    assert inp.model == "nope"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"duration": "ten"}, "options.duration"),
        ({"seed": "x"}, "options.seed"),
        ([1, 2], "options"),
    ],
)
def test_bad_option_values_name_the_option(options: Any, field: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        generate_input(gen(options), catalog())
    assert info.value.field == field


def test_core_fields_are_named_as_the_client_wrote_them() -> None:
    _, where = generate_input(gen({"aspectRatio": "1:1"}, image="https://x/y.png"), catalog())
    assert graphql_field("aspect_ratio", where) == "options.aspectRatio"
    assert graphql_field("image_urls[0]", where) == "input.image[0]"
    assert graphql_field("options.style", where) == "options.style"
    assert graphql_field(None, where) is None
