"""A flow's steps laid out flat, so one integer points at the next step even inside a branch.

Steps are numbered depth first, as :func:`iter_steps` lists them: a ``choice``, then the steps
of each branch, then its ``otherwise`` steps, then what follows it. Each step knows the one
that follows it when it completes; the last step of a branch is followed by what follows its
choice. A flow without a choice is numbered as its list is, so its pointer means what it meant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from interlink.estate.kinds.flow import ChoiceStep, FlowSpec, Step


@dataclass
class Layout:
    steps: list[Step] = field(default_factory=list)
    #: The index of the step that follows each one (``len(steps)``: the run ends).
    following: list[int] = field(default_factory=list)
    #: For a choice's index: where each branch starts, the ``otherwise`` list last.
    entries: dict[int, list[int]] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return len(self.steps)

    @classmethod
    def of(cls, spec: FlowSpec) -> Layout:
        layout = cls()
        layout._link(layout._place(spec.steps), layout.end)
        return layout

    def _place(self, steps: list[Step]) -> list[int]:
        placed: list[int] = []
        self._branches: dict[int, list[list[int]]] = getattr(self, "_branches", {})
        for step in steps:
            index = len(self.steps)
            self.steps.append(step)
            self.following.append(-1)
            placed.append(index)
            if isinstance(step, ChoiceStep):
                lists = [branch.steps for branch in step.branches] + [step.otherwise]
                self._branches[index] = [self._place(inner) for inner in lists]
        return placed

    def _link(self, placed: list[int], after: int) -> None:
        for position, index in enumerate(placed):
            nxt = placed[position + 1] if position + 1 < len(placed) else after
            self.following[index] = nxt
            branches = self._branches.get(index)
            if branches is not None:
                for inner in branches:
                    self._link(inner, nxt)
                self.entries[index] = [inner[0] if inner else nxt for inner in branches]
