"""Matching criteria: which definition serves a resource in a context, and why.

Class must match exactly (a missing class is ``default``). Among the rules that
match, the most specific wins: res_id beats env_id beats app_id beats env_type
(compared as a tuple). Two definitions of one type whose rules could win the
same context are refused when the second is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trellis.catalog.models import Criterion

CRITERIA_FIELDS = ("env_type", "app_id", "env_id", "res_id")


@dataclass(frozen=True)
class Context:
    """Where a resource is used."""

    app_id: str
    env_id: str
    env_type: str
    res_id: str
    workload: str = ""


@dataclass(frozen=True)
class Candidate:
    """A definition's active criteria, as matching sees them."""

    definition_id: str
    type: str
    criteria: tuple[Criterion, ...]


@dataclass
class Match:
    definition_id: str
    rule: Criterion


@dataclass
class Explanation:
    """Why a definition was chosen, and why the others lost."""

    winner: Match | None
    considered: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.winner:
            out.append(f"{self.winner.definition_id} wins with rule {self.winner.rule.describe()}")
        out.extend(f"{definition}: {reason}" for definition, reason in self.considered)
        return out


def rule_matches(rule: Criterion, class_: str, ctx: Context) -> str | None:
    """None when the rule matches; otherwise the reason it does not."""
    if rule.class_ != class_:
        return f"class {rule.class_} is not {class_}"
    for name in CRITERIA_FIELDS:
        wanted = getattr(rule, name)
        actual = getattr(ctx, name)
        if wanted is not None and wanted != actual:
            return f"{name} {wanted} is not {actual}"
    return None


def best_rule(candidate: Candidate, class_: str, ctx: Context) -> tuple[Criterion | None, str]:
    """The candidate's most specific matching rule, or None with the reason none matched."""
    reasons = []
    best: Criterion | None = None
    for rule in candidate.criteria:
        reason = rule_matches(rule, class_, ctx)
        if reason is not None:
            reasons.append(f"{rule.describe()}: {reason}")
        elif best is None or rule.specificity() > best.specificity():
            best = rule
    if not candidate.criteria:
        reasons.append("it has no matching criteria")
    return best, "; ".join(reasons)


def explain(candidates: list[Candidate], type_: str, class_: str, ctx: Context) -> Explanation:
    """Pick the winner among ``candidates`` for a resource of ``type_``/``class_`` in ``ctx``."""
    explanation = Explanation(None)
    matches: list[Match] = []
    for candidate in sorted(candidates, key=lambda c: c.definition_id):
        if candidate.type != type_:
            continue
        rule, reason = best_rule(candidate, class_, ctx)
        if rule is None:
            explanation.considered.append((candidate.definition_id, f"no rule matches ({reason})"))
        else:
            matches.append(Match(candidate.definition_id, rule))
    matches.sort(key=lambda m: (m.rule.specificity(), m.definition_id), reverse=True)
    if matches:
        explanation.winner = matches[0]
        for loser in matches[1:]:
            explanation.considered.append(
                (loser.definition_id, f"rule {loser.rule.describe()} matches but is less specific")
            )
    return explanation


def conflicts(new: Candidate, others: list[Candidate]) -> list[str]:
    """Rules of ``new`` that could win the same context as a rule of another definition of its type."""
    found = []
    for other in others:
        if other.type != new.type or other.definition_id == new.definition_id:
            continue
        for rule in new.criteria:
            for theirs in other.criteria:
                if rule.key() == theirs.key():
                    found.append(
                        f"rule {rule.describe()} of {new.definition_id} is the same as a rule of "
                        f"{other.definition_id}; both could win the same context"
                    )
    return found
