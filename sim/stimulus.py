"""The idle and backpressure patterns of a simulation run, the same in every testbench.

A run's stimulus is random but reproducible: each stream endpoint of the fabric (input
port ``in{k}``, output port ``out{k}``) draws one number per data cycle from its own
splitmix64 stream, seeded from the run's ``seed`` and the endpoint, whether or not it
has anything to send. A source pauses (``tvalid`` low) in a cycle when its draw is below
``idle``; a sink holds ``tready`` low when its draw is below ``backpressure``. The cocotb
testbench (:mod:`sim.testbench`) draws from :class:`PauseStream`; the C++ harness
(:mod:`sim.harness`) computes the same numbers, so both give the same outputs and the
same cycle counts. docs/simulation.md ("Stimulus") states the whole cycle-level contract.

The numbers: with ``GOLDEN = 0x9E3779B97F4A7C15``, ``mix`` the splitmix64 finalizer
(:func:`mix`) and all arithmetic modulo 2**64, an endpoint with id ``e`` (:func:`endpoint_id`)
starts from ``state = mix(seed ^ mix((e + 1) * GOLDEN))``; each draw adds ``GOLDEN`` to
``state`` and gives the top 53 bits of ``mix(state)``. A draw pauses when it is below
``int(p * 2**53)`` (:func:`threshold`), so a probability 0 never pauses.
"""

__all__ = ["GOLDEN", "mix", "endpoint_id", "threshold", "PauseStream"]

_MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
_OUT_BASE = 0x10000


def mix(z):
    """The splitmix64 finalizer of the 64-bit integer ``z``."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def endpoint_id(kind, port):
    """The stream id of input (``kind="in"``) or output (``"out"``) port ``port``."""
    if kind not in ("in", "out"):
        raise ValueError(f"kind must be 'in' or 'out', not {kind!r}")
    return port if kind == "in" else _OUT_BASE + port


def threshold(probability):
    """The draw below which an endpoint pauses: ``int(probability * 2**53)``."""
    return int(float(probability) * (1 << 53))


class PauseStream:
    """The pause decisions of one endpoint, a cycle per :meth:`next`.

    Parameters
    ----------
    seed : int
        The run's seed (signed or unsigned 64-bit; taken modulo 2**64).
    endpoint : int
        :func:`endpoint_id` of the endpoint.
    probability : float
        Probability of a pause per cycle, in ``[0, 1)``.
    """

    __slots__ = ("state", "limit")

    def __init__(self, seed, endpoint, probability):
        self.state = mix((seed & _MASK) ^ mix(((endpoint + 1) * GOLDEN) & _MASK))
        self.limit = threshold(probability)

    def draw(self):
        """The next 53-bit number of the stream."""
        self.state = (self.state + GOLDEN) & _MASK
        return mix(self.state) >> 11

    def next(self):
        """Whether the endpoint pauses in the next cycle (a draw is made either way)."""
        return self.draw() < self.limit
