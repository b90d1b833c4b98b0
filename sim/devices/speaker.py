"""Simulated speaker: records what was said (bounded), for logs and tests."""

from __future__ import annotations

from collections import deque

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.registry import BuildContext, DeviceConfig
from hal.speaker import Playback, Speaker, Utterance
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimSpeakerConfig(DeviceConfig):
    history_length: int = 200


class SimSpeaker(Speaker):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimSpeakerConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self._history: deque[Utterance] = deque(maxlen=config.history_length)
        self.playing: Playback | None = None
        self.played: deque[Playback] = deque(maxlen=config.history_length)

    def say(self, text: str, *, language: str = "en") -> None:
        self._require_open()
        self.sim.raise_on_fault()
        self._history.append(Utterance(text, language, self.clock.now_s()))

    def history(self) -> list[Utterance]:
        return list(self._history)

    def play(self, track_ref: str) -> Playback:
        self._require_open()
        self.sim.raise_on_fault()
        self.playing = Playback(track_ref, self.clock.now_s())
        self.played.append(self.playing)
        return self.playing

    def stop_playback(self) -> None:
        self.playing = None

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimSpeakerConfig, ctx: BuildContext) -> SimSpeaker:
    env, body = sim_context(ctx)
    return SimSpeaker(name, ctx.clock, env, body, config)
