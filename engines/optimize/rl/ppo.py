"""PPO actor-critic for the RL advisor (stable-baselines3), trained offline on :class:`WellEnv`.

Network: separate actor and critic MLPs, hidden layers [256, 128] (tanh), over the ``N_FEATURES``
observation; discrete actions ``ACTION_STEPS``. Deterministic given the seed on one device. Sizes a user
can set have hard upper bounds: ``timesteps`` <= ``MAX_TIMESTEPS`` (rounded up to whole rollouts of
``n_steps``), ``episode_hours`` <=
:data:`engines.optimize.rl.env.MAX_EPISODE_HOURS`. Training reports progress through a callback
(``progress(done, total)``) and stops cleanly at the next step when ``should_stop()`` turns true (the
policy trained so far is returned). ``device="auto"`` uses CUDA when PyTorch sees a GPU and the CPU
otherwise; the default is the CPU, which is faster for an MLP this size.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from engines.optimize.rl.env import ACTION_STEPS, MAX_EPISODE_HOURS, N_FEATURES, WellEnv, WellModel

#: Hard upper bound of the training timesteps of one policy.
MAX_TIMESTEPS = 5_000_000
NET_ARCH = (256, 128)
#: Version of the observation and action definitions a saved policy was trained on.
FEATURES_VERSION = 1


@dataclass(frozen=True)
class PpoSettings:
    """PPO hyper-parameters (stable-baselines3 names; ``n_envs`` environments step together, so one rollout is
    ``n_envs * n_steps`` steps); the defaults are the ones the benchmark reports."""

    n_envs: int = 8
    n_steps: int = 256
    batch_size: int = 256
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    clip_range: float = 0.2


@dataclass(frozen=True)
class TrainingRecord:
    """What a policy was trained on: lift type, wells, timesteps, seed, episode length, network, features."""

    lift_type: str
    wells: list[str]
    timesteps: int
    seed: int
    episode_hours: int
    net_arch: list[int]
    features_version: int
    action_steps: list[float]
    settings: dict


def train_ppo(wells: Sequence[WellModel], timesteps: int, seed: int = 0, episode_hours: int = 168,
              settings: PpoSettings = PpoSettings(), device: str = "cpu",
              progress: Callable[[int, int], None] | None = None, should_stop: Callable[[], bool] | None = None,
              threads: int | None = 1):
    """Train one policy over the wells (one lift type; a random well each episode). Returns
    ``(model, TrainingRecord)``; ``model`` is a stable-baselines3 ``PPO``. ``threads``: PyTorch CPU threads
    while training (restored after; None leaves PyTorch's setting)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    timesteps = int(timesteps)
    if not 1 <= timesteps <= MAX_TIMESTEPS:
        raise ValueError(f"timesteps must be in [1, {MAX_TIMESTEPS}], not {timesteps}")
    if not 1 <= int(episode_hours) <= MAX_EPISODE_HOURS:
        raise ValueError(f"episode_hours must be in [1, {MAX_EPISODE_HOURS}], not {episode_hours}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    from stable_baselines3.common.vec_env import DummyVecEnv

    n_envs = max(1, min(settings.n_envs, timesteps // 8 or 1))
    envs = [WellEnv(list(wells), episode_hours=episode_hours, seed=seed * 1000 + i) for i in range(n_envs)]
    env = DummyVecEnv([lambda e=e: e for e in envs])
    n_steps = max(8, min(settings.n_steps, timesteps // n_envs))
    batch = max(8, min(settings.batch_size, n_steps * n_envs))
    model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=batch, n_epochs=settings.n_epochs,
                learning_rate=settings.learning_rate, gamma=settings.gamma, gae_lambda=settings.gae_lambda,
                ent_coef=settings.ent_coef, clip_range=settings.clip_range, seed=int(seed), device=device, verbose=0,
                policy_kwargs={"net_arch": {"pi": list(NET_ARCH), "vf": list(NET_ARCH)}, "activation_fn": torch.nn.Tanh})

    class _Progress(BaseCallback):
        def _on_step(self) -> bool:
            if progress is not None and self.num_timesteps % (256 * n_envs) == 0 and self.num_timesteps < timesteps:
                progress(self.num_timesteps, timesteps)
            return not (should_stop is not None and should_stop())

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        model.learn(total_timesteps=timesteps, callback=_Progress(), progress_bar=False)
    finally:
        torch.set_num_threads(before)
    if progress is not None:
        progress(timesteps, timesteps)
    record = TrainingRecord(envs[0].lift_type, [w.name for w in wells], int(model.num_timesteps), int(seed), int(episode_hours),
                            list(NET_ARCH), FEATURES_VERSION, list(ACTION_STEPS), asdict(settings))
    return model, record


class NumpyPolicy:
    """The trained actor as NumPy (the [256, 128] tanh MLP and the action head, weights copied from the PPO
    policy): the service's inference path, tens of microseconds per well, no PyTorch threads, CPU only.
    ``probabilities`` equals the PyTorch policy's action distribution to float32 round-off."""

    def __init__(self, model):
        import torch

        layers = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
        self.hidden = [(m.weight.detach().cpu().numpy().astype(np.float64), m.bias.detach().cpu().numpy().astype(np.float64))
                       for m in layers]
        head = model.policy.action_net
        self.head = (head.weight.detach().cpu().numpy().astype(np.float64), head.bias.detach().cpu().numpy().astype(np.float64))

    def probabilities(self, observation: np.ndarray) -> np.ndarray:
        x = np.asarray(observation, dtype=np.float64).reshape(-1, N_FEATURES)
        for w, b in self.hidden:
            x = np.tanh(x @ w.T + b)
        logits = x @ self.head[0].T + self.head[1]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p[0] if p.shape[0] == 1 else p

    def act(self, observation: np.ndarray) -> tuple[int, float]:
        """The most probable action and its probability (the advisor's confidence)."""
        p = self.probabilities(observation)
        a = int(np.argmax(p))
        return a, float(p[a])


def action_probabilities(model, observation: np.ndarray) -> np.ndarray:
    """The policy's probability of each action at one observation (``N_FEATURES``), as NumPy."""
    import torch

    obs = np.asarray(observation, dtype=np.float32).reshape(1, N_FEATURES)
    with torch.no_grad():
        tensor, _ = model.policy.obs_to_tensor(obs)
        probs = model.policy.get_distribution(tensor).distribution.probs
    return probs.cpu().numpy()[0]


def greedy_action(model, observation: np.ndarray) -> tuple[int, float]:
    """The most probable action and its probability (the advisor's confidence)."""
    p = action_probabilities(model, observation)
    a = int(np.argmax(p))
    return a, float(p[a])
