"""The sandbox provider: what test-mode keys get for every model.

It behaves like a remote vendor (submit, then progress over a simulated time) and produces real,
valid files from the prompt: PNG images, H.264 MP4 videos with the requested duration, size and an
AAC track when audio was asked for, and WAV/MP3/OGG speech-like tones. Every file is labelled SANDBOX.

Prompts can ask for failures so clients can test their error handling:
``[sandbox:fail]`` → a failed task (GENERATION_FAILED), ``[sandbox:moderation]`` → a content-policy
failure.
"""

from __future__ import annotations

import asyncio
import time

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest
from mediagate.media import convert, synth
from mediagate.providers.base import (
    Adapter,
    Finished,
    JobStatus,
    PollResult,
    ProviderJob,
    Submitted,
)

FAIL_TRIGGER = "[sandbox:fail]"
MODERATION_TRIGGER = "[sandbox:moderation]"


def _image_size(request: GenerationRequest) -> tuple[int, int]:
    ratio = request.aspect_ratio or str(request.option("aspect_ratio") or "1:1")
    if ratio in ("1:1", "adaptive", "keep_ratio"):
        return 1024, 1024
    return synth.dimensions("768p", ratio)


def render(request: GenerationRequest) -> OutputRef:
    """Make the output file for a request (CPU-bound: call from a worker thread)."""
    prompt = request.prompt or "(no prompt)"
    label = f"SANDBOX · {request.model}"
    if request.type is MediaType.IMAGE:
        fmt = request.output_format or "png"
        width, height = _image_size(request)
        return OutputRef(MediaType.IMAGE, data=synth.make_image(prompt, width, height, fmt, label), format=fmt)
    if request.type is MediaType.AUDIO:
        fmt = request.output_format or "wav"
        wav = synth.make_wav(max(1.0, min(60.0, len(prompt) * 0.06)))
        return OutputRef(MediaType.AUDIO, data=convert.wav_to(wav, fmt), format=fmt)
    duration = float(request.duration or 5)
    width, height = synth.dimensions(request.resolution or "480p", request.aspect_ratio)
    audio = request.generate_audio or request.type is MediaType.AVATAR
    data = synth.make_mp4(prompt, width=width, height=height, duration=duration, audio=audio, label=label)
    return OutputRef(request.type, data=data, format="mp4", width=width, height=height, duration=duration)


class SandboxAdapter(Adapter):
    name = "sandbox"

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        return Submitted(f"sbx_{job.task_id}", {"submitted_at": time.time()})

    async def poll(self, job: ProviderJob) -> PollResult:
        delay = self.settings.sandbox_delay_seconds
        elapsed = time.time() - float(job.state.get("submitted_at", 0))
        if elapsed < delay:
            return PollResult(JobStatus.PROCESSING, progress=min(95, int(100 * elapsed / delay)))
        prompt = job.request.prompt
        if MODERATION_TRIGGER in prompt:
            return PollResult(JobStatus.FAILED, error="Content policy violation (sandbox)", content_policy=True)
        if FAIL_TRIGGER in prompt:
            return PollResult(JobStatus.FAILED, error="Simulated generation failure (sandbox)")
        output = await asyncio.to_thread(render, job.request)
        return PollResult(JobStatus.SUCCEEDED, progress=100, outputs=[output])

    async def cancel(self, job: ProviderJob) -> bool:
        return True

    def poll_interval(self) -> float:
        return max(0.2, self.settings.sandbox_delay_seconds / 10)
