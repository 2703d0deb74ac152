"""The ``fifo`` scheduler: O(1) per switch, direct hand-over, batches (the runtime's default).

``run(..., scheduler="fifo")`` (and ``get_hub()``) make a ``FifoHub``. Its policy, all of it
here; the mechanics it shares with ``sched_pth`` (threads, worker greenlets, timers, the poller,
kills, deadlock reports, other OS threads) are ``hub.Hub``'s:

* **Run queue**: ``hub.ready``, a deque; ``wake`` appends, the next switch pops the left end.
  O(1) per wake and per switch, whatever the number of threads, parked or runnable.
* **Switch directly.** A thread that blocks (``park``) or yields hands the CPU straight to the
  next runnable thread: one greenlet switch, not two through the hub (``_switch_out``).
* **Batches** (trio's rule). The hub greenlet (``_loop``) runs the threads that were runnable
  when the batch began (``_budget`` of them), then polls for I/O and expires timers, so no
  thread's descriptors starve behind a busy run queue. When the batch is used up and there is
  nothing to poll (no descriptor waits, no other-OS-thread wake-ups promised, no timer due),
  the next batch starts right where the switching thread is (``_next_batch_here``), saving the
  two switches through the hub. When nothing at all is runnable, a thread that parks polls
  right there (``_poll_here``): the poll and the timer expiry the hub would run, on the parking
  thread's stack, then a switch straight to the first thread woken, or none when that is the
  parking thread itself (a keep-alive server's every request on one connection). The hub
  greenlet still polls whenever a batch ends with threads runnable, runs the calls from other
  OS threads, and reports deadlocks.
* **Sleeping**: with nothing runnable the hub sleeps in the poller until the next deadline or
  descriptor event; if nothing at all can wake a thread, the main thread gets ``Deadlock``.

``sched_pth`` is the other policy: GNU Pth's, O(n) per switch, for the notebooks' comparison.
"""

from __future__ import annotations

from time import monotonic

from .hub import PARKED, READY, RUNNING, Hub, Thread
from .timers import MAX_TIMEOUT

__all__ = ["FifoHub"]


class FifoHub(Hub):
    """Scheduler of one OS thread's green threads (the ``fifo`` policy: O(1) per switch)."""

    scheduler = "fifo"

    #: ``wake(t, value)`` is exactly "``t._woken = True``, ``t._value = value``, ``t._waiting =
    #: None``, ``t._state = READY``, append ``t`` to ``hub.ready``", so a primitive's hot path
    #: may do that itself instead of calling ``wake`` (``sync.Event.set`` does; it skips
    #: ``_value``, which only a hand-off reads). ``PthHub`` says False.
    wake_appends = True

    def park(self, waitobj, timeout: float | None = None) -> bool:
        """Block the current thread until ``wake`` (True) or ``timeout`` expiry (False).

        ``waitobj`` is what it waits on; it must have ``discard(thread)``, which the hub calls
        when the timer fires or the thread is killed. Raises the kill exception, if any.
        Called by the current thread only.

        Timeouts are armed lazily: a thread keeps one timer entry (``t._timer``) across parks,
        and its real deadline is ``t._deadline``. A park whose deadline is no earlier than the
        entry's reuses it (a server's 30 s request timeout, renewed on every request, arms a
        timer once per 30 s, not once per request); a wake leaves it armed. When the entry
        fires early the hub re-arms it at ``t._deadline``, or drops it if the thread no longer
        waits with a timeout (``_expire``).
        """
        t = self.current
        t._waiting = waitobj
        t._state = PARKED
        t._since = self.now
        if timeout is None:
            t._deadline = None
            now = None
        else:
            if timeout > MAX_TIMEOUT:
                timeout = MAX_TIMEOUT
            now = monotonic()
            t._deadline = deadline = now + timeout
            entry = t._timer
            if entry is None or entry[0] > deadline:
                timers = self.timers
                if entry is not None:
                    timers.cancel(entry)
                t._timer = timers.add(deadline, t)
        # switch out: straight to the next thread of this batch, or to the hub (_switch_out,
        # _run and _to_hub inlined: a server's every request parks here)
        ready = self.ready
        if ready and (self._budget > 0 or self._next_batch_here()):
            self._budget -= 1
            nxt = ready.popleft()
        elif not ready and self._poll_here(now):
            # the poll woke threads: a new batch, begun here; its first may be this thread,
            # which then goes on without a switch
            self._budget = len(ready) - 1
            nxt = ready.popleft()
        else:
            nxt = None
            g = self.greenlet
            if g.dead:
                self._to_hub()          # starts a fresh loop
            else:
                g.switch()
        if nxt is not None and nxt is not t:
            if nxt._g is None:
                self._run(nxt)
            else:
                self.switches += 1
                self.current = nxt
                nxt._g.switch()
        # resumed by wake(), the timer or kill
        t._state = RUNNING
        exc = t._throw
        if exc is not None:
            t._throw = None
            raise exc
        return t._woken

    def wake(self, t: Thread, value: object = None) -> None:
        """Make the PARKED thread ``t`` runnable; its ``park`` returns True. O(1).

        The caller has already removed ``t`` from whatever it waited on.
        """
        t._woken = True
        t._value = value
        t._waiting = None
        t._state = READY
        self.ready.append(t)

    def yield_(self) -> None:
        """``sleep(0)``: go to the back of the run queue and let the others run.

        """
        ready = self.ready
        if not ready and not (self.poller.waiting or self._foreign_pending or self.timers.live):
            return            # nobody else could run: yielding would be a no-op
        t = self.current
        t._state = READY
        ready.append(t)
        self._switch_out()
        self._resumed(t)

    # -- switching ------------------------------------------------------------------------------

    def _switch_out(self):
        """Leave the current thread: run the next in this batch directly, or go to the hub."""
        if self.ready and (self._budget > 0 or self._next_batch_here()):
            self._budget -= 1
            return self._run(self.ready.popleft())
        return self._to_hub()

    def _next_batch_here(self) -> bool:
        """The batch is used up, so the hub would poll and expire timers now. When it has
        nothing to look at (no descriptor waits, no other-OS-thread wakeups, no timer due),
        begin the next batch here and save the two switches through the hub."""
        if self.poller.waiting or self._foreign_pending:
            return False
        if self.timers.live:
            deadline = self._next_deadline()
            if deadline is not None and deadline <= monotonic():
                return False
        self._budget = len(self.ready)
        self.loops += 1
        return True

    def _poll_here(self, now: float | None) -> bool:
        """Nothing is runnable, so the hub would poll now: poll here instead, on the parking
        thread's stack, and expire the timers that are due, until a thread is runnable. That
        saves the switch to the hub and usually the one back (the thread that parked is often
        the one the poll wakes). False when the hub must look instead: nothing to poll for
        (only timers, or a deadlock), or a call from another OS thread to run.

        ``now``: ``monotonic()`` as ``park`` just read it for its deadline (None if it did not),
        used for the first poll's timeout; later rounds use the time read after the previous
        poll. Either is at most moments old, so a poll may end that much after a deadline,
        never before it (the expiry reads the clock afresh)."""
        poller = self.poller
        timers = self.timers
        ready = self.ready
        while poller.waiting or self._foreign_pending:
            fifo = timers._fifo
            if fifo and not timers._heap and fifo[0][2] is not None:
                entry = fifo[0]         # TimerHeap.head's common case, inlined
            else:
                entry = timers.head()
            if entry is None:
                deadline = None
                timeout = -1.0
            else:
                if entry[2]._deadline is None and entry[2]._state is PARKED:
                    deadline = self._next_deadline()    # drop the stale entries at the head
                else:
                    deadline = entry[0]
                if deadline is None:
                    timeout = -1.0
                else:
                    timeout = deadline - (monotonic() if now is None else now)
                    if timeout < 0:
                        timeout = 0.0
            self.loops += 1
            self.polls += 1
            self.in_poll = True
            try:
                poller.poll(timeout)
            except BaseException as e:
                self._throw_into(self.main, e)      # as the hub loop does: see there
            finally:
                self.in_poll = False
            self.now = now = monotonic()
            if deadline is not None and deadline <= now and timers.live:
                self._expire(now)
            if self._foreign:
                return False
            if ready:
                return True
        return False

    # -- the loop -------------------------------------------------------------------------------

    def _loop(self, *_ignored) -> None:
        """The hub greenlet: run a batch, compute the timeout, poll, expire timers, repeat."""
        ready = self.ready
        timers = self.timers
        poller = self.poller
        while True:
            self.loops += 1
            # Run one batch: the threads runnable now. Those they make runnable wait for the
            # next batch, so that I/O and timers are looked at in between (no starvation).
            n = len(ready)
            if n:
                self._budget = n - 1
                t = ready.popleft()
                g = t._g
                if g is None:
                    self._run(t)
                else:                   # _run's resume, inlined: a server's every request
                    self.switches += 1
                    self.current = t
                    g.switch()
                # back here when a thread blocked with the batch used up, or a worker ended
                continue_batch = self._budget > 0 and ready
                while continue_batch:
                    self._budget -= 1
                    self._run(ready.popleft())
                    continue_batch = self._budget > 0 and ready
            # How long may we sleep? Not at all if threads are runnable; else until the next
            # deadline; forever if only I/O or other OS threads can wake us; and if nothing can
            # wake anyone, that is a deadlock.
            if ready or self._foreign:  # (calls a poll in a thread found: _poll_here)
                timeout = 0.0
                deadline = 0.0          # not looked up: let the expiry below check
            else:
                # _next_deadline, its common case inlined: the head entry's thread still waits
                # with a timeout (or is no longer parked), so the entry is the next deadline
                entry = timers.head()
                if entry is None:
                    deadline = None
                elif entry[2]._deadline is None and entry[2]._state is PARKED:
                    deadline = self._next_deadline()    # drop the stale entries at the head
                else:
                    deadline = entry[0]
                if deadline is not None:
                    timeout = deadline - monotonic()
                    if timeout < 0:
                        timeout = 0.0
                elif poller.waiting or self._foreign_pending:
                    timeout = -1.0
                else:
                    self._deadlock()
                    continue
            # Wait for I/O: wakes the threads whose descriptors are ready.
            if timeout or poller.waiting or self._foreign_pending:
                self.polls += 1
                self.in_poll = True
                try:
                    poller.poll(timeout)
                except BaseException as e:
                    # a signal handler raised (Python runs it here, in the hub greenlet): raise
                    # it in the main thread, taken out of what it waits on, as CPython raises it
                    # in the main thread; escaping would kill the loop with main still parked
                    self._throw_into(self.main, e)
                finally:
                    self.in_poll = False
            if self._foreign:
                self._run_foreign()
                deadline = 0.0
            # Expire deadlines: their threads wake with park() returning False.
            self.now = now = monotonic()
            if deadline is not None and deadline <= now and timers.live:
                self._expire(now)

    # -- lazy timers (see park) -----------------------------------------------------------------

    def _expire(self, now: float) -> None:
        """Time out the parked threads whose deadline has passed, in deadline order; re-arm or
        drop the entries that fired early (their thread was woken, or parked again with a
        later deadline).

        An early entry is re-armed at the thread's real deadline even when that deadline has
        passed too: ``pop_due`` then yields it again in this same pass, after the entries due
        before it. Timing it out at once would order it by the stale entry's deadline, ahead
        of threads whose own deadlines came first."""
        timers = self.timers
        ready = self.ready
        for t in timers.pop_due(now):
            entry = t._timer        # the entry just popped: a thread has at most one
            t._timer = None
            deadline = t._deadline
            if deadline is None or t._state is not PARKED:
                continue            # woken (by I/O in this same pass: the wake wins), no timeout
            if entry is not None and entry[0] < deadline:
                t._timer = timers.add(deadline, t)        # fired early: the wait was renewed
                continue
            self._unpark(t)
            ready.append(t)

    def _next_deadline(self) -> float | None:
        """The earliest armed deadline, after dropping the entries at the head whose thread now
        waits without a timeout, so that an idle hub does not mistake them for a way out of a
        deadlock. An entry whose thread renewed its wait may still be earlier than the thread's
        real deadline: the hub then wakes once for nothing and ``_expire`` re-arms it."""
        timers = self.timers
        while True:
            entry = timers.head()
            if entry is None:
                return None
            t = entry[2]
            if t._deadline is not None or t._state is not PARKED:
                return entry[0]     # maybe early (the wait was renewed): _expire re-arms it
            timers.cancel(entry)    # parked without a timeout now: drop it
            t._timer = None
