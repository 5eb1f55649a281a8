"""The book's one verdict protocol: a source's claim, numbers per seed, and a decision by confidence interval.

A chapter measures something once per seed (a test loss, an accuracy) in two settings ``a`` and ``b`` and asks
whether a source's claim about them holds. The effect is d = estimate(a) − estimate(b); the verdict is read off
the two-sided ``level`` confidence interval [low, high] of d and ``margin`` ≥ 0, the smallest difference that
matters, in the claim's units:

=======  =================================  ===================================
claim    confirmed                          contradicted
=======  =================================  ===================================
a<b      high < −margin                     low > −margin
a>b      low > margin                       high < margin
a≈b      −margin < low and high < margin    low > margin or high < −margin
=======  =================================  ===================================

and inconclusive otherwise. "a≈b" (ASCII alias "a~b") is two one-sided tests against ±margin, each at
(1 − level)/2, which is stricter than the textbook TOST on the (2·level − 1) interval; it needs margin > 0.
A false claim is confirmed at most (1 − level)/2 of the time, 2.5 % at level 0.95 (tests/test_stats.py checks this
by simulation).

Intervals (z and t are the (1 + level)/2 quantiles of the normal and Student t distributions):

- :func:`compare`, two samples (Welch): d ± t_ν · √(s_a²/n_a + s_b²/n_b) with the Welch–Satterthwaite
  ν = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)).
- :func:`compare`, one sample against a number r: d = mean(a) − r ± t_{n−1} · s/√n.
- :func:`proportion` (Wilson score): (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n), shifted by the reference.
- :func:`compare_medians`: the percentile bootstrap of median(a) − median(b), each group resampled on its own.

Non-finite values (diverged runs) are dropped and counted. A group with fewer than 2 finite values gets no
interval and an inconclusive verdict.

Seeds needed. An inconclusive verdict estimates how many seeds per group would decide it: the smallest n at which,
with the observed standard deviations, (t_{level} + t_{power}) · se(n) ≤ D, where D is the distance from the
estimate to the nearest deciding boundary (−margin for a<b, +margin for a>b, ±margin for a≈b). With power = 0.5
this is "the interval's half-width shrinks to D" (a coin flip whether the next run decides); the default 0.8 is the
usual sample-size rule, so that a rerun with that many seeds decides most of the time if the estimate holds.
Proportions count trials the same way (Wilson interval at quantile z_{level} + z_{power}); the bootstrap uses the
normal approximation se(n)² = Σ var*(median) · n_obs / n. Beyond the cap (1000 seeds, 100 000 trials), or when the
estimate sits exactly on a boundary, ``seeds_needed`` is None and the reason says why.

Multiple comparisons. Each verdict holds at its own level. A chapter that decides m claims as one family and wants
at most a (1 − level) chance of any false confirmation passes ``level=bonferroni_level(level, m)`` to each call
(Bonferroni: each interval at 1 − (1 − level)/m). Holm's step-down needs p-values, which these interval verdicts
do not have; Bonferroni on the intervals is the simple, valid choice.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

import numpy as np
from scipy.special import ndtri, stdtrit

OUTCOMES = ("confirmed", "contradicted", "inconclusive")
CLAIMS = ("a<b", "a>b", "a≈b")
ALIASES = {"a~b": "a≈b"}
DEFAULT_POWER = 0.8
SEEDS_CAP = 1000
TRIALS_CAP = 100_000
MINUS = "\u2212"


# ---------------------------------------------------------------- checks and small helpers

def canonical_claim(claim: str) -> str:
    """The canonical form of `claim` ("a~b" → "a≈b"); ValueError for anything else."""
    canonical = ALIASES.get(claim, claim)
    if canonical not in CLAIMS:
        raise ValueError(f"claim={claim!r} is not one of {CLAIMS + tuple(ALIASES)}")
    return canonical


def _check_common(claim: str, margin: float, level: float, power: float, names: Sequence[str],
                  digits: int) -> tuple[str, float, tuple[str, str]]:
    """The checks every verdict function makes before any work; returns the canonical claim, margin and names."""
    claim = canonical_claim(claim)
    for name, value in (("level", level), ("power", power)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
            raise ValueError(f"{name}={value!r} must lie strictly between 0 and 1")
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not math.isfinite(margin) or margin < 0:
        raise ValueError(f"margin={margin!r} must be a finite number ≥ 0")
    if claim == "a≈b" and margin == 0:
        raise ValueError("claim 'a≈b' needs margin > 0: no interval fits strictly inside (−0, 0)")
    if isinstance(names, str) or len(names) != 2 or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names={names!r} must be two strings, the names of a and b")
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral) or digits < 1:
        raise ValueError(f"digits={digits!r} must be a whole number ≥ 1")
    return claim, float(margin), (names[0], names[1])


def _finite(values: Any, name: str) -> tuple[np.ndarray, int]:
    """The finite values of a 1-D sequence and how many non-finite ones were dropped."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of per-seed values, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: give at least one per-seed value")
    keep = np.isfinite(array)
    return array[keep], int(array.size - keep.sum())


def _variance(x: np.ndarray) -> float:
    """Sample variance (ddof=1); exactly 0 for identical values, so zero spread never turns into rounding noise."""
    return 0.0 if x.min() == x.max() else float(x.var(ddof=1))


def _t(q: float | np.ndarray, df: float | np.ndarray) -> Any:
    # The function scipy.stats.t.ppf evaluates, without its ~50 µs of argument handling per call:
    # the seeds search evaluates it many times per verdict.
    return stdtrit(df, q)


def bonferroni_level(level: float, comparisons: int) -> float:
    """The per-claim level that keeps a family of `comparisons` claims at `level` together: 1 − (1 − level)/m."""
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must lie strictly between 0 and 1")
    if int(comparisons) != comparisons or comparisons < 1:
        raise ValueError(f"comparisons={comparisons!r} must be a positive integer")
    return 1 - (1 - level) / comparisons


def decide(claim: str, low: float, high: float, margin: float) -> str:
    """The outcome of `claim` for the interval [low, high] of d = a − b and `margin` (the table in the module doc)."""
    claim = canonical_claim(claim)
    if claim == "a<b":
        confirmed, contradicted = high < -margin, low > -margin
    elif claim == "a>b":
        confirmed, contradicted = low > margin, high < margin
    else:
        confirmed, contradicted = -margin < low and high < margin, low > margin or high < -margin
    return "confirmed" if confirmed else "contradicted" if contradicted else "inconclusive"


def _distance(claim: str, effect: float, margin: float) -> float:
    """How far the estimate sits from the nearest boundary that would decide the claim."""
    if claim == "a<b":
        return abs(effect + margin)
    if claim == "a>b":
        return abs(effect - margin)
    return abs(abs(effect) - margin)


def format_number(x: float | None, digits: int = 3) -> str:
    """`x` to `digits` significant digits, trailing zeros dropped, a real minus sign; "n/a" for None."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else MINUS + "∞"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if -4 <= magnitude < 6:
        decimals = digits - 1 - magnitude         # negative: round to tens, hundreds, …
        text = f"{round(x, decimals):.{max(decimals, 0)}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = f"{x:.{max(digits - 1, 0)}e}"
    if float(text) == 0:
        return "0"
    return text.replace("-", MINUS)


def json_safe(value: Any) -> Any:
    """`value` with tuples as lists, NumPy scalars as Python numbers and nan/inf as None (valid strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------- the record

@dataclass(frozen=True)
class Verdict:
    """One decided claim: the outcome, the interval it was read from, and everything needed to say why.

    `n` and `n_dropped` hold one entry per group (one for a comparison against a number or a proportion).
    Missing numbers (no interval) are None. `prose` and `label` are generated from the fields.
    """

    claim: str
    outcome: str
    effect: float | None
    low: float | None
    high: float | None
    level: float
    margin: float
    n: tuple[int, ...]
    n_dropped: tuple[int, ...]
    test: str
    df: float | None
    estimate_a: float | None
    estimate_b: float | None
    seeds_needed: int | None
    units: str = ""
    reason: str = ""
    names: tuple[str, str] = ("a", "b")
    digits: int = 3

    def __post_init__(self):
        if self.claim not in CLAIMS:
            raise ValueError(f"claim={self.claim!r} is not one of {CLAIMS}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome={self.outcome!r} is not one of {OUTCOMES}")
        if len(self.names) != 2:
            raise ValueError(f"names={self.names!r} must hold two names")

    def _num(self, x: float | None) -> str:
        return format_number(x, self.digits)

    def _with_units(self, x: float | None) -> str:
        return f"{self._num(x)} {self.units}" if self.units else self._num(x)

    @property
    def _second(self) -> str:
        second = self.names[1]
        if len(self.n) == 1:        # against a number: show it, by itself when it was not given a name
            second = self._num(self.estimate_b) if second == "b" else f"{second} ({self._num(self.estimate_b)})"
        return second

    @property
    def difference(self) -> str:
        """The effect's name: "a − b", or "a − 0.9" against a number whose name was not given."""
        return f"{self.names[0]} {MINUS} {self._second}"

    @property
    def relation(self) -> str:
        """The claim in the groups' names: "snake < relu", "gelu_t ≈ gelu", "a > 0.9"."""
        return f"{self.names[0]} {self.claim[1]} {self._second}"

    @property
    def interval(self) -> str:
        """"−0.12 (95 % CI −0.2 to −0.05)", or the estimate alone when there is no interval."""
        if self.low is None or self.high is None:
            return f"{self._with_units(self.effect)} (no interval)"
        return (f"{self._with_units(self.effect)} ({format_number(100 * self.level, 4)} % CI "
                f"{self._num(self.low)} to {self._num(self.high)})")

    @property
    def sample(self) -> str:
        """The test and the sample sizes: "Welch t, n = 5 and 5", "Wilson, 48 of 50"."""
        if self.test == "Wilson":
            text = f"Wilson, {round(self.estimate_a * self.n[0])} of {self.n[0]}"
        else:
            text = f"{self.test}, n = " + " and ".join(map(str, self.n))
        dropped = sum(self.n_dropped)
        if dropped:
            text += f", {dropped} non-finite (diverged) {'run' if dropped == 1 else 'runs'} dropped"
        return text

    @property
    def explanation(self) -> str:
        """The prose after its outcome: effect with interval, why, test and sizes, the seeds that would decide."""
        text = f"{self.difference} = {self.interval}, {self.reason}; {self.sample}"
        if self.seeds_needed is not None:
            unit = "trials" if self.test == "Wilson" else "seeds" if len(self.n) == 1 else "seeds per group"
            text += f"; about {self.seeds_needed} {unit} would likely decide"
        return text

    @property
    def prose(self) -> str:
        """One sentence: "confirmed: a − b = −0.12 (95 % CI −0.2 to −0.05), beyond the margin of 0.05; Welch t, …"."""
        return f"{self.outcome}: {self.explanation}"

    @property
    def label(self) -> str:
        """A short form for tables and plot legends: "confirmed: −0.12 [−0.2, −0.05]"."""
        if self.low is None or self.high is None:
            return f"{self.outcome}: no interval"
        return f"{self.outcome}: {self._num(self.effect)} [{self._num(self.low)}, {self._num(self.high)}]"

    def to_dict(self) -> dict[str, Any]:
        """The fields plus `prose` and `label`, JSON-safe (tuples as lists, nan/inf as None)."""
        record = json_safe({f.name: getattr(self, f.name) for f in fields(self)})
        record["prose"], record["label"] = self.prose, self.label
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Verdict:
        """The Verdict that `to_dict` wrote (the generated `prose` and `label` are ignored)."""
        names = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls) if f.name not in record and f.default is MISSING]
        if missing:
            raise ValueError(f"a verdict record lacks {sorted(missing)}")
        values = {k: v for k, v in record.items() if k in names}
        for key in ("n", "n_dropped", "names"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


# ---------------------------------------------------------------- reasons and the seeds that would decide

def _reason(claim: str, outcome: str, margin: float, text: str, first: str) -> str:
    """Why `outcome`, in words; `text` is the margin as the prose prints it (with its units)."""
    margin, zero = text, margin == 0
    if claim == "a≈b":
        return {"confirmed": f"within the margin of ±{margin}",
                "contradicted": f"entirely beyond the margin of ±{margin}",
                "inconclusive": f"the interval straddles the margin of ±{margin}"}[outcome]
    below = claim == "a<b"
    if zero:
        return {"confirmed": "entirely below zero" if below else "entirely above zero",
                "contradicted": "entirely above zero" if below else "entirely below zero",
                "inconclusive": "the interval includes zero"}[outcome]
    bound = f"{MINUS}{margin}" if below else margin
    return {"confirmed": f"beyond the margin of {margin}",
            "contradicted": (f"entirely {'above' if below else 'below'} {bound}: any "
                             f"{'advantage' if below else 'excess'} of {first} is smaller than the margin of {margin}"),
            "inconclusive": f"the interval straddles {bound}, the margin"}[outcome]


def _seeds_t(variances: Sequence[float], distance: float, level: float, power: float, n_now: int) -> int | None:
    """Smallest n per group with (t_level + t_power)(ν(n)) · √(Σ s²/n) ≤ distance, None beyond SEEDS_CAP.

    f(n) = ⌈q(ν(n))² Σs² / D²⌉ is non-increasing in n, the z quantiles give a lower bound, and
    f(lower) an upper bound; iterating both (a fixed-point bracket) narrows it to a few values checked directly.
    """
    total = float(sum(variances))
    squares = float(sum(v * v for v in variances))
    if distance <= 0 or total == 0:
        return None

    def df(n):
        return n - 1 if len(variances) == 1 else total * total * (n - 1) / squares

    def f(n):
        q = _t((1 + level) / 2, df(n)) + _t(power, df(n))
        return math.ceil(q * q * total / distance**2 * (1 - 1e-12))

    z = ndtri((1 + level) / 2) + ndtri(power)
    bound = z * z * total / distance**2
    if not bound <= SEEDS_CAP:                    # also catches inf when the distance is tiny
        return None
    low = max(2, math.ceil(bound * (1 - 1e-12)))
    high = max(low, f(low))
    for _ in range(20):
        if high - low <= 8:
            break
        low, high = max(low, f(high)), min(high, max(low, f(low)))
    for n in range(low, min(high, SEEDS_CAP) + 1):
        if f(n) <= n:
            return max(n, n_now + 1)
    return None


def _wilson(p_hat: float, trials: float, z: float) -> tuple[float, float]:
    centre = (p_hat + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p_hat * (1 - p_hat) / trials + z * z / (4 * trials * trials))
    return max(centre - half, 0.0), min(centre + half, 1.0)


def _trials_needed(claim, p_hat, reference, margin, level, power, trials_now) -> int | None:
    """Smallest number of trials at which the Wilson interval at z_level + z_power, at the same p̂, decides."""
    z = float(ndtri((1 + level) / 2) + ndtri(power))

    def decides(n):
        low, high = _wilson(p_hat, n, z)
        return decide(claim, low - reference, high - reference, margin) != "inconclusive"

    if _distance(claim, p_hat - reference, margin) == 0 or not decides(TRIALS_CAP):
        return None
    low, high = trials_now, TRIALS_CAP           # decides(low) is false, decides(high) true; the bounds of the
    while high - low > 1:                         # Wilson interval move monotonically towards p̂ as n grows
        middle = (low + high) // 2
        low, high = (low, middle) if decides(middle) else (middle, high)
    return high


def _seeds_note(seeds: int | None, claim: str, effect: float, margin: float, unit: str, cap: int) -> str:
    if seeds is not None:
        return ""
    if _distance(claim, effect, margin) == 0:
        return "; the estimate sits on the boundary, so more data may never decide"
    return f" (more than {cap} {unit} would be needed)"


# ---------------------------------------------------------------- the three verdicts

def compare(a: Sequence[float], b: Sequence[float] | float, *, claim: str, margin: float, level: float = 0.95,
            units: str = "", names: tuple[str, str] = ("a", "b"), power: float = DEFAULT_POWER,
            digits: int = 3) -> Verdict:
    """Decide `claim` about the means of per-seed values `a` and `b` (a sequence: Welch t; a number: one-sample t).

    `margin` ≥ 0 is the smallest difference of means that matters, in `units`; `names` name a and b in the prose.
    """
    claim, margin, names = _check_common(claim, margin, level, power, names, digits)
    xa, dropped_a = _finite(a, "a")
    one_sample = np.ndim(b) == 0
    if one_sample:
        reference = float(b)
        if not math.isfinite(reference):
            raise ValueError(f"b={b!r}: a reference value must be finite")
        groups, dropped, test = [xa], (dropped_a,), "one-sample t"
    else:
        xb, dropped_b = _finite(b, "b")
        groups, dropped, test = [xa, xb], (dropped_a, dropped_b), "Welch t"
    sizes = tuple(len(x) for x in groups)
    estimate_a = float(xa.mean()) if len(xa) else None
    estimate_b = reference if one_sample else float(xb.mean()) if len(xb) else None
    effect = None if estimate_a is None or estimate_b is None else estimate_a - estimate_b
    common = {"claim": claim, "level": level, "margin": margin, "n": sizes, "n_dropped": dropped, "test": test,
              "estimate_a": estimate_a, "estimate_b": estimate_b, "units": units, "names": names,
              "digits": digits}

    if min(sizes) < 2:
        short = " and ".join(name for name, size in zip(names[:len(sizes)], sizes, strict=True) if size < 2)
        return Verdict(outcome="inconclusive", effect=effect, low=None, high=None, df=None, seeds_needed=None,
                       reason=f"fewer than 2 finite values in {short}", **common)

    variances = [_variance(x) for x in groups]
    per_group = [v / n for v, n in zip(variances, sizes, strict=True)]
    se2 = sum(per_group)
    if one_sample:
        df = float(sizes[0] - 1)
    else:
        denominator = sum(p * p / (n - 1) for p, n in zip(per_group, sizes, strict=True))
        df = se2 * se2 / denominator if denominator > 0 else None       # None: both groups without spread
    half = float(_t((1 + level) / 2, df) * math.sqrt(se2)) if se2 > 0 else 0.0
    low, high = effect - half, effect + half
    outcome = decide(claim, low, high, margin)
    seeds = None
    reason = _reason(claim, outcome, margin, format_number(margin, digits) + (f" {units}" if units else ""),
                     names[0])
    if outcome == "inconclusive":
        seeds = _seeds_t(variances, _distance(claim, effect, margin), level, power, min(sizes))
        unit = "seeds" if one_sample else "seeds per group"
        reason += _seeds_note(seeds, claim, effect, margin, unit, SEEDS_CAP)
    return Verdict(outcome=outcome, effect=effect, low=low, high=high, df=df, seeds_needed=seeds, reason=reason,
                   **common)


def wilson_interval(successes: Any, trials: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of successes/trials (element-wise for arrays)."""
    k, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    z = float(ndtri((1 + level) / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def proportion(successes: int, trials: int, *, claim: str, reference: float, margin: float = 0.0,
               level: float = 0.95, names: tuple[str, str] = ("a", "b"), power: float = DEFAULT_POWER,
               digits: int = 3) -> Verdict:
    """Decide `claim` about a proportion against `reference` ("almost all fit": claim "a>b", reference 0.9).

    The effect is p̂ − reference and its interval the Wilson interval shifted by the reference.
    """
    claim, margin, names = _check_common(claim, margin, level, power, names, digits)
    for name, value in (("successes", successes), ("trials", trials)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name}={value!r} must be a whole number ≥ 0")
    successes, trials = int(successes), int(trials)
    if trials == 0:
        raise ValueError("trials=0: a proportion needs at least one trial")
    if successes > trials:
        raise ValueError(f"successes={successes} exceeds trials={trials}")
    if not 0 <= reference <= 1:
        raise ValueError(f"reference={reference!r} must be a proportion in [0, 1]")
    p_hat = successes / trials
    low, high = (float(x) for x in wilson_interval(successes, trials, level))
    effect = p_hat - reference
    outcome = decide(claim, low - reference, high - reference, margin)
    reason = _reason(claim, outcome, margin, format_number(margin, digits), names[0])
    trials_needed = None
    if outcome == "inconclusive":
        trials_needed = _trials_needed(claim, p_hat, reference, margin, level, power, trials)
        reason += _seeds_note(trials_needed, claim, effect, margin, "trials", TRIALS_CAP)
    return Verdict(claim=claim, outcome=outcome, effect=effect, low=low - reference, high=high - reference,
                   level=level, margin=margin, n=(trials,), n_dropped=(0,), test="Wilson", df=None,
                   estimate_a=p_hat, estimate_b=float(reference), seeds_needed=trials_needed, reason=reason,
                   names=names, digits=digits)


def _bootstrap_medians(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of `resamples` resamples of x with replacement, drawn in blocks of at most ~2 million values."""
    block = max(1, 2_000_000 // len(x))
    out = np.empty(resamples)
    for start in range(0, resamples, block):
        stop = min(start + block, resamples)
        out[start:stop] = np.median(x[rng.integers(0, len(x), size=(stop - start, len(x)))], axis=1)
    return out


def compare_medians(a: Sequence[float], b: Sequence[float] | float, *, claim: str, margin: float,
                    level: float = 0.95, resamples: int = 10_000, seed: int = 0, units: str = "",
                    names: tuple[str, str] = ("a", "b"), power: float = DEFAULT_POWER, digits: int = 3) -> Verdict:
    """Decide `claim` about median(a) − median(b) by the seeded percentile bootstrap (b may be a number).

    Each group is resampled on its own (`resamples` times, NumPy Generator seeded with `seed`); the interval is the
    (1 ∓ level)/2 quantiles of the resampled differences.
    """
    claim, margin, names = _check_common(claim, margin, level, power, names, digits)
    if isinstance(resamples, bool) or int(resamples) != resamples or resamples < 100:
        raise ValueError(f"resamples={resamples!r} must be a whole number ≥ 100")
    xa, dropped_a = _finite(a, "a")
    one_sample = np.ndim(b) == 0
    if one_sample:
        reference = float(b)
        if not math.isfinite(reference):
            raise ValueError(f"b={b!r}: a reference value must be finite")
        groups, dropped = [xa], (dropped_a,)
    else:
        xb, dropped_b = _finite(b, "b")
        groups, dropped = [xa, xb], (dropped_a, dropped_b)
    sizes = tuple(len(x) for x in groups)
    estimate_a = float(np.median(xa)) if len(xa) else None
    estimate_b = reference if one_sample else float(np.median(xb)) if len(xb) else None
    effect = None if estimate_a is None or estimate_b is None else estimate_a - estimate_b
    common = {"claim": claim, "level": level, "margin": margin, "n": sizes, "n_dropped": dropped,
              "test": "bootstrap median", "df": None, "estimate_a": estimate_a, "estimate_b": estimate_b,
              "units": units, "names": names, "digits": digits}
    if min(sizes) < 2:
        short = " and ".join(name for name, size in zip(names[:len(sizes)], sizes, strict=True) if size < 2)
        return Verdict(outcome="inconclusive", effect=effect, low=None, high=None, seeds_needed=None,
                       reason=f"fewer than 2 finite values in {short}", **common)

    rng = np.random.default_rng(seed)
    medians = [_bootstrap_medians(x, int(resamples), rng) for x in groups]
    differences = medians[0] - (reference if one_sample else medians[1])
    low, high = (float(q) for q in np.quantile(differences, [(1 - level) / 2, (1 + level) / 2]))
    outcome = decide(claim, low, high, margin)
    reason = _reason(claim, outcome, margin, format_number(margin, digits) + (f" {units}" if units else ""),
                     names[0])
    seeds = None
    if outcome == "inconclusive":
        distance = _distance(claim, effect, margin)
        spread = sum(float(m.var()) * n for m, n in zip(medians, sizes, strict=True))     # se(n)² ≈ spread / n
        z = float(ndtri((1 + level) / 2) + ndtri(power))
        if distance > 0 and spread > 0:
            bound = z * z * spread / distance**2
            seeds = max(math.ceil(bound), min(sizes) + 1) if bound <= SEEDS_CAP else None
        reason += _seeds_note(seeds, claim, effect, margin, "seeds" if one_sample else "seeds per group", SEEDS_CAP)
    return Verdict(outcome=outcome, effect=effect, low=low, high=high, seeds_needed=seeds, reason=reason, **common)
