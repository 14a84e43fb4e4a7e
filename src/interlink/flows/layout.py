"""A flow's steps laid out flat, so one integer points at the next step even inside a branch.

Steps are numbered depth first, as :func:`iter_steps` lists them: a ``choice``, then the steps
of each branch, then its ``otherwise`` steps, then what follows it. Each step knows the one
that follows it when it completes; the last step of a branch is followed by what follows its
choice. A flow without a choice is numbered as its list is, so its pointer means what it meant. The
``onError`` steps come last, numbered the same way; both sequences end the run.
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

    #: Where the ``onError`` steps start (``None``: the flow has none); they come after all
    #: the others, and a run whose pointer is at or past it is handling a failure.
    catch: int | None = None

    @classmethod
    def of(cls, spec: FlowSpec) -> Layout:
        layout = cls()
        main = layout._place(spec.steps)
        handler = layout._place(spec.on_error)
        layout._link(main, layout.end)
        layout._link(handler, layout.end)
        layout.catch = handler[0] if handler else None
        return layout

    def catching(self, index: int) -> bool:
        return self.catch is not None and index >= self.catch

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
