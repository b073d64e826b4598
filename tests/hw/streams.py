"""Stream drivers for Amaranth simulation testbenches.

A :class:`StreamSource` feeds items into a ``stream.Signature`` port that the design
under test consumes (it drives ``valid`` and ``payload`` and reads ``ready``); a
:class:`StreamSink` takes items from a port the design produces (it drives ``ready`` and
reads ``valid`` and ``payload``). A transfer is a clock edge at which ``valid`` and
``ready`` are both high.

Either runs as a testbench of its own (:meth:`StreamSource.run`,
:meth:`StreamSink.run`), or is stepped one cycle at a time by a testbench that drives
several ports in lockstep and checks things between them: ``drive(ctx)`` sets this
cycle's signals, ``edge(...)`` is given the values at the clock edge that ends it.

Idle cycles and backpressure come from pause patterns (as in cocotbext-axi): iterators of
bools, ``True`` meaning "pause in this cycle". :func:`random_pauses` makes a seeded one;
any other iterator works too, e.g. ``itertools.cycle([True, False])``.

Tests import this module as ``streams``: ``tests/hw`` is not a package (it would shadow
the ``hw`` package), so pytest puts the directory itself on ``sys.path``.
"""

import random

from amaranth.lib import data

__all__ = ["random_pauses", "StreamSource", "StreamSink"]


def random_pauses(rate, seed):
    """An endless pause pattern pausing in each cycle with probability ``rate``.

    ``seed`` is anything :class:`random.Random` accepts (an int or a str); the same seed
    gives the same pattern, so a test can give every port its own reproducible pattern
    (``f"{seed}/{port}"``) that does not depend on how the other ports use theirs.

    Raises :exc:`ValueError` unless ``0 <= rate < 1`` (at 1 nothing would ever move).
    """
    if not 0 <= rate < 1:
        raise ValueError(f"pause rate must be at least 0 and below 1, not {rate!r}")
    rng = random.Random(seed)
    while True:
        yield rng.random() < rate


def _plain(value):
    """``value`` as ``ctx.get`` returns it, with an array payload as a list of elements."""
    if isinstance(value, data.Const) and isinstance(value.shape(), data.ArrayLayout):
        return list(value)
    return value


class StreamSource:
    """Feeds ``items`` in order into ``stream``, a port the design under test consumes.

    The source stays idle (``valid`` low) for ``delay`` cycles. Then, for each item, it
    draws once per cycle from ``pauses`` and stays idle while the draw says pause; then
    it offers the item and holds it (``valid`` high, ``payload`` stable, no draws) until
    the item is transferred. After the last item ``valid`` stays low. ``pauses=None``
    never pauses.

    Members
    -------
    accepted : int
        Items transferred so far.
    done : bool
        Every item has been transferred.
    """

    def __init__(self, stream, items, *, pauses=None, delay=0):
        self.stream = stream
        self.items = list(items)
        self.accepted = 0
        self._pauses = pauses
        self._wait = delay
        self._holding = False

    @property
    def done(self):
        return self.accepted == len(self.items)

    def drive(self, ctx):
        """Set ``valid`` and ``payload`` for this cycle."""
        if self._wait:
            self._wait -= 1
        elif not self._holding and not self.done:
            self._holding = self._pauses is None or not next(self._pauses)
        if self._holding:
            ctx.set(self.stream.payload, self.items[self.accepted])
        ctx.set(self.stream.valid, self._holding)

    def edge(self, ready):
        """Record the clock edge ending this cycle, at which ``ready`` was as given."""
        if self._holding and ready:
            self._holding = False
            self.accepted += 1

    async def run(self, ctx):
        """Testbench: feed every item, then return with ``valid`` low.

        It may also be left blocked when the simulation ends (background testbench).
        """
        while not self.done:
            self.drive(ctx)
            # sampled at the edge rather than ``tick().until(ready)``: a coroutine left
            # suspended inside ``until`` at the end of a simulation fails when collected
            _, _, ready = await ctx.tick().sample(self.stream.ready)
            self.edge(ready)
        ctx.set(self.stream.valid, 0)


class StreamSink:
    """Takes items from ``stream``, a port the design under test produces.

    In each cycle the sink draws once from ``pauses`` and holds ``ready`` low if the draw
    says pause, high otherwise; ``pauses=None`` is always ready.

    Members
    -------
    items : list
        Payload of each transfer, in order; payloads of an ``ArrayLayout`` shape as
        lists of their elements, others as ``ctx.get`` returns them.
    cycles : list of int
        The cycle of each transfer, counting the sink's first cycle as 0.
    """

    def __init__(self, stream, *, pauses=None):
        self.stream = stream
        self.items = []
        self.cycles = []
        self._pauses = pauses
        self._ready = False
        self._cycle = 0

    def drive(self, ctx):
        """Set ``ready`` for this cycle."""
        self._ready = self._pauses is None or not next(self._pauses)
        ctx.set(self.stream.ready, self._ready)

    def edge(self, valid, payload):
        """Record the clock edge ending this cycle, with ``valid`` and ``payload`` then."""
        if valid and self._ready:
            self.items.append(_plain(payload))
            self.cycles.append(self._cycle)
        self._cycle += 1

    async def run(self, ctx):
        """Testbench that never returns: add it with ``background=True``."""
        while True:
            self.drive(ctx)
            _, _, valid, payload = await ctx.tick().sample(self.stream.valid,
                                                           self.stream.payload)
            self.edge(valid, payload)
