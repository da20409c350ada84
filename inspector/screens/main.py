"""The main screen's actions: one method per key of :data:`inspector.keys.KEYS`.

Each moves the view-model, or asks :class:`~inspector.data.SessionData` (in a
worker) and then moves it; the layout and the reads are :class:`SessionView`'s.
"""

from __future__ import annotations

from collections.abc import Callable

from inspector import export
from inspector.data import SessionData
from inspector.dialogs import LinesScreen, PickScreen, PromptScreen, WaterfallScreen, help_lines
from inspector.keys import bindings
from inspector.query import Query, QueryError, breakpoint_query, parse
from inspector.saved import SavedState, SavedStateError
from inspector.screens.view import SessionView
from inspector.state_panel import next_view
from inspector.stops import BREAKPOINT, FILTER, Stop, Stops
from inspector.stops_screen import StopsScreen
from inspector.waterfall import job_spans
from pipebus.core.describe import job_label

ERRORS = parse("cat:error")


class MainScreen(SessionView):
    """A session in the inspector: timeline, message, workers, jobs, and every key."""

    BINDINGS = bindings()

    def __init__(self, data: SessionData, *, poll: float = 0.25) -> None:
        super().__init__(data, poll=poll)
        self.stops = Stops()
        """The session's breakpoints and filters (``L``), saved with it."""
        self.saved = SavedState.of(data)

    def on_mount(self) -> None:
        """Bring back the breakpoints and filters saved with the session, once it is shown."""
        self.call_later(self._restore)

    def _restore(self) -> None:
        try:
            self.stops = self.saved.load()
        except (SavedStateError, QueryError) as exc:
            self.say(f"saved breakpoints and filters not read: {exc}")
            return
        if not self.stops:
            return
        self.model.breakpoints = self.stops.breakpoints
        note = f"{len(self.stops)} saved breakpoints and filters back (L lists them)"
        if self.stops.filter is None:
            self.moved(note)
            return
        self.model.filter = self.stops.filter

        async def work() -> None:
            await self.apply_rows()
            self.say(note)

        self.read(work, "filter")

    def _save(self, kind: str = "", text: str = "") -> None:
        """Save the stops (and ``text`` typed in the ``kind`` prompt); a failure is a note."""
        try:
            if kind:
                self.saved.remember(kind, text, self.stops)
            else:
                self.saved.save(self.stops)
        except (SavedStateError, OSError) as exc:
            self.say(f"breakpoints and filters not saved: {exc}")

    def _ask(
        self, title: str, hint: str, value: str, then: Callable[[str], None], history: str = ""
    ) -> None:
        def answered(text: str | None) -> None:
            if text is not None and text.strip():
                if history:
                    self._save(history, text)
                then(text.strip())

        found = self.saved.history.of(history) if history else []
        self.app.push_screen(PromptScreen(title, hint, value, found), answered)

    # --- moving -----------------------------------------------------------------------

    def action_step(self, rows: int) -> None:
        """Move the cursor by ``rows`` rows."""
        self.model.move(rows)
        self.moved("")

    def action_page(self, pages: int) -> None:
        """Move the cursor by a page of rows."""
        self.model.move(pages * max(1, self.timeline.scrollable_content_region.height - 1))
        self.moved("")

    def action_scrub(self, fraction: float) -> None:
        """Move the cursor by a fraction of the timeline."""
        self.model.scrub(fraction)
        self.moved("")

    def action_first(self) -> None:
        """To the first step."""
        self.model.first()
        self.moved("")

    def action_last(self) -> None:
        """To the last step; a live session is followed again."""
        self.model.last()
        self.moved("")

    def action_goto_step(self) -> None:
        """Ask for a step and go there."""

        def go(text: str) -> None:
            try:
                step = int(text.replace(",", "").removeprefix("#"))
            except ValueError:
                self.say(f"not a step: {text!r}")
                return
            self.model.jump(step)
            self.moved(f"went to step {self.model.cursor:,}")

        self._ask("Go to step", f"1 to {self.model.length:,}", "", go)

    def action_goto_time(self) -> None:
        """Ask for a time (ms since the start, or +/-ms from the cursor) and go there."""

        def go(text: str) -> None:
            async def work() -> None:
                offset = float(text.removesuffix("ms")) * 1e6
                relative = text[0] in "+-" and self.at is not None
                base = self.at.event.time_ns if relative and self.at else self.data.info.started_ns
                step = await self.data.step_at_time(int(base + offset))
                self.model.jump(step)
                self.moved(f"went to {text} ms: step {self.model.cursor:,}")

            self.read(work, "go to that time")

        self._ask("Go to time", "milliseconds since the start, or +N / -N from here", "", go)

    def action_back(self) -> None:
        """Back to the step the last jump left."""
        self._along(self.model.back(), "back", len(self.model.jumps.back))

    def action_forward(self) -> None:
        """Forward again, to the step going back left."""
        self._along(self.model.forward(), "forward", len(self.model.jumps.forward))

    def _along(self, step: int | None, way: str, more: int) -> None:
        if step is None:
            self.say(f"no jump to go {way} to")
            return
        self.moved(f"{way} to #{step:,}" + (f" ({more} more {way})" if more else ""))

    # --- cause and effect ---------------------------------------------------------------------

    def action_cause(self) -> None:
        """Jump to the message whose handler sent this one."""
        if self.at is None or self.at.cause is None:
            self.say("this message has no recorded cause")
            return
        step = self.at.cause.seq
        self.model.jump(step)
        hidden = "" if self.model.cursor == step else " (hidden by the filter: nearest row)"
        self.moved(f"cause: #{step}{hidden}")

    def action_effects(self) -> None:
        """Pick one of the messages this one caused, and go there."""
        if self.at is None or not self.at.effects:
            self.say("this message caused nothing")
            return
        choices = [
            (e.seq, f"#{e.seq} {e.type} {e.source} → {e.target or '*'}") for e in self.at.effects
        ]

        def go(step: int | None) -> None:
            if step:
                self.model.jump(step)
                self.moved(f"effect: #{step}")

        self.app.push_screen(PickScreen("What it caused", choices), go)

    def action_spans(self) -> None:
        """The waterfall of the spans of this message's job (or of its trace)."""
        at = self.at
        if at is None:
            return

        async def work() -> None:
            spans, steps = await self.data.spans(at.event)
            what = (
                f"job {job_label(at.event.job_id, self.data.job_names.get(at.event.job_id))}"
                if at.event.job_id
                else f"trace {at.event.trace_id[:8]}"
            )
            mark = int(at.event.span_id, 16)
            self.app.push_screen(
                WaterfallScreen(f"waterfall of {what}", spans, steps, mark), self._went_to_span
            )

        self.read(work, "rebuild the spans")

    def action_jobs_waterfall(self) -> None:
        """The waterfall of the jobs around the cursor (the whole session, when small)."""
        step = self.model.cursor

        async def work() -> None:
            jobs = await self.data.jobs_around(step)
            spans = job_spans(jobs)
            steps = {span.span_id: job.first_seq for span, job in zip(spans, jobs, strict=True)}
            screen = WaterfallScreen(f"jobs around step {step:,}", spans, steps)
            self.app.push_screen(screen, self._went_to_span)

        self.read(work, "read the jobs")

    def _went_to_span(self, step: int | None) -> None:
        if step:
            self.model.jump(step)
            self.moved(f"span at #{step}")

    # --- errors, find, breakpoints ------------------------------------------------------------

    def _jump(self, queries: list[Query], back: bool, what: str) -> None:
        async def work() -> None:
            step = await self.data.next_hit(
                queries, self.model.cursor, back=back, within=self.model.filter
            )
            if step is None:
                self.say(f"no {what} {'before' if back else 'after'} step {self.model.cursor:,}")
                return
            self.model.jump(step)
            self.moved(f"{what} at #{step}")

        self.read(work, f"find the {what}")

    def action_next_error(self) -> None:
        """To the next error."""
        self._jump([ERRORS], False, "error")

    def action_previous_error(self) -> None:
        """To the previous error."""
        self._jump([ERRORS], True, "error")

    def action_filter(self) -> None:
        """Ask for a filter: only the matching events are shown."""

        def set_filter(text: str) -> None:
            try:
                query = parse(text)
            except QueryError as exc:
                self.say(str(exc))
                return

            self.stops.set_filter(None if query.empty and not query.invert else query)
            self._save()

            async def work() -> None:
                self.model.filter = self.stops.filter
                await self.apply_rows()

            self.read(work, "filter")

        current = self.model.filter.text if self.model.filter else ""
        self._ask("Filter (hide what does not match)", QUERY_HINT, current, set_filter, FILTER)

    def action_clear_filter(self) -> None:
        """Show every event again (the filter is removed from the list too)."""
        self.stops.set_filter(None)
        self._save()
        self.model.filter = None
        self.read(self.apply_rows, "clear the filter")

    def action_find(self) -> None:
        """Ask for a find query: matches are highlighted and counted, n/N go to them."""

        def set_find(text: str) -> None:
            try:
                self.model.find = parse(text)
            except QueryError as exc:
                self.say(str(exc))
                return
            self.model.find_hits = None

            async def work() -> None:
                await self.search_find()
                self.action_find_next()

            self.read(work, "find")

        current = self.model.find.text if self.model.find else ""
        self._ask("Find (highlight what matches)", QUERY_HINT, current, set_find, "find")

    def action_find_next(self) -> None:
        """To the next find match (after the last, the first again)."""
        self._to_match(back=False)

    def action_find_previous(self) -> None:
        """To the previous find match (before the first, the last again)."""
        self._to_match(back=True)

    def _to_match(self, *, back: bool) -> None:
        if self.model.find is None or self.model.find_hits is None:
            return
        found = self.model.next_match(back)
        if found is None:
            self.say(f"no match for {self.model.find.text!r}")
            return
        step, wrapped = found
        self.model.jump(step)
        self.moved(self.model.match_note(step, ("last" if back else "first") if wrapped else ""))

    def action_clear_find(self) -> None:
        """Cancel a running search; else clear the find, and leave full screen."""
        if self.searching.cancel():
            return  # the search says it was cancelled, and what is shown
        self.model.find = None
        self.model.find_hits = None
        if self.model.maximized is not None:
            self.model.maximized = None
            self.show_maximized()
        self.moved("")

    def action_add_breakpoint(self) -> None:
        """Ask for a breakpoint."""

        def add(text: str) -> None:
            try:
                self.stops.add_breakpoint(breakpoint_query(text))
            except QueryError as exc:
                self.say(str(exc))
                return
            self._save()
            self.model.breakpoints = self.stops.breakpoints
            self.moved(f"breakpoint on {text}")

        value = f"type:{self.at.event.type}" if self.at is not None else "error"
        hint = "type:NAME  worker:NAME  error  job:ID"
        self._ask("Break on", hint, value, add, BREAKPOINT)

    def action_clear_breakpoints(self) -> None:
        """Remove every breakpoint."""
        self.stops.clear_breakpoints()
        self._save()
        self.model.breakpoints = self.stops.breakpoints
        self.moved("no breakpoints")

    def action_stops(self) -> None:
        """List the breakpoints and filters: each can be turned off and on, or removed."""

        def changed(stop: Stop, removed: bool) -> None:
            self._save()
            self.model.breakpoints = self.stops.breakpoints
            what = "removed" if removed else ("on" if stop.on else "off")
            note = f"{stop.kind} {stop.text}: {what}"
            if stop.kind == FILTER and self.model.filter is not self.stops.filter:
                self.model.filter = self.stops.filter

                async def work() -> None:
                    await self.apply_rows()
                    self.say(note)

                self.read(work, "filter")
            else:
                self.moved(note)

        self.app.push_screen(StopsScreen(self.stops, changed))

    def action_continue(self) -> None:
        """Run the cursor to the next breakpoint hit; live, wait for one."""
        if not self.model.breakpoints:
            self.say("no breakpoint: add one with b")
            return

        async def work() -> None:
            model = self.model
            step = await self.data.next_hit(model.breakpoints, model.cursor, within=model.filter)
            if step is not None:
                model.jump(step)
                self.moved(f"breakpoint hit at #{step}")
            elif model.live:
                model.last()
                self.moved("running: the next hit will stop the cursor")
            else:
                self.say("no breakpoint hit after the cursor")

        self.read(work, "continue")

    def action_continue_back(self) -> None:
        """Run the cursor back to the previous breakpoint hit."""
        self._jump(self.model.breakpoints, True, "breakpoint hit")

    # --- view -----------------------------------------------------------------------------------

    def action_state_view(self) -> None:
        """The state panel: this step's diff, then the whole state as a tree, then hidden."""
        self.model.state_view = next_view(self.model.state_view)
        if not self.model.state_view and self.model.maximized == "state":
            self.model.maximized = None
        self.show_maximized()
        if self.model.state_view and self.at is not None:
            self.show_state_panel(self.at)

    def action_fold(self) -> None:
        """Fold each job into one row, or unfold them."""
        self.model.folded = not self.model.folded
        self.model.expanded.clear()
        self.read(self.apply_rows, "fold the jobs")

    def action_toggle_job(self) -> None:
        """Expand or collapse the job at the cursor (jobs folded)."""
        if self.at is None or self.at.event.job_id is None or not self.model.folded:
            return
        job = self.at.event.job_id
        self.model.expanded.symmetric_difference_update({job})
        self.read(self.apply_rows, "expand the job")

    def action_open_payload(self) -> None:
        """Show a large payload whole, or folded again."""
        self.model.payload_open = not self.model.payload_open
        if self.at is not None:
            self.show_at(self.at)

    def action_full_screen(self, panel: str) -> None:
        """Show one panel full screen, or all panels again."""
        if panel == "state" and not self.model.state_view:  # a hidden panel is shown first
            self.action_state_view()
        self.model.toggle_maximized(panel)
        self.show_maximized()

    # --- export ------------------------------------------------------------------------------

    def action_copy_payload(self) -> None:
        """Copy the payload at the cursor to the clipboard."""
        if self.at is not None:
            self.app.copy_to_clipboard(self.at.event.payload)
            self.say(f"payload of #{self.at.step} copied ({len(self.at.event.payload)} characters)")

    def action_export_jsonl(self) -> None:
        """Ask for steps and a file, and write those events as JSONL."""

        def write(text: str) -> None:
            async def work() -> None:
                start, end, path = export.parse_slice(text, self.model.length)
                total = end - start + 1

                def progress(done: int) -> None:
                    self.say(f"exporting: {done:,} of {total:,} events ({done / total:.0%})")

                count = await export.write_jsonl(self.data.pages(start, end), path, progress)
                self.say(f"{count} events written to {path}")

            self.read(work, "export")

        default = f"1-{self.model.length} pipebus-{self.data.info.id[:8]}.jsonl"
        self._ask("Export steps as JSONL", "START-END PATH", default, write)

    def action_export_fixture(self) -> None:
        """Ask for a worker, steps and a file, and write its transcript (a regression fixture)."""

        def write(text: str) -> None:
            async def work() -> None:
                worker, _, rest = text.partition(" ")
                start, end, path = export.parse_slice(rest, self.model.length)
                pages = self.data.pages(start, end)
                found = await export.write_transcript(pages, worker, self.data.info.id, path)
                self.say(f"{len(found.steps)} steps of {worker} written to {path}")

            self.read(work, "export the fixture")

        worker = self.at.event.source if self.at is not None else "WORKER"
        default = f"{worker} 1-{self.model.length} {worker}.jsonl"
        self._ask(
            "Export a regression fixture (pipebus_regression.check)",
            "WORKER START-END PATH",
            default,
            write,
        )

    # --- app -----------------------------------------------------------------------------------

    def action_help(self) -> None:
        """Every key."""
        self.app.push_screen(LinesScreen("keys (Esc closes)", help_lines()))

    async def action_sessions(self) -> None:
        """Back to the sessions screen."""
        await self.app.run_action("sessions")


QUERY_HINT = (
    "type:X cat:job|lifecycle|frame|registry|error source:X target:X worker:X job:ID "
    "/regex/ (a leading ! inverts)"
)
