"""Building the netlist of a lowering: virtual units and the nets between them."""

from ..netlist import VUnit, Net, Netlist

__all__ = ["NetBuilder"]


class NetBuilder:
    """Collects virtual units and nets in creation order, which is the order the
    :class:`~compiler.netlist.Netlist` lists them in (placement depends on it)."""

    def __init__(self):
        self._vunits = []
        self._taken = set()
        self._nets = {}         # source endpoint -> (network, [sinks])

    def vunit(self, name, kind):
        """Add a vunit of ``kind`` named after ``name`` (dots become underscores, and a
        taken name gets a ``_k`` suffix); returns the name it got."""
        name = name.replace(".", "_")
        base, k = name, 1
        while name in self._taken:
            name, k = f"{base}_{k}", k + 1
        self._taken.add(name)
        self._vunits.append(VUnit(name, kind))
        return name

    def connect(self, source, sink, network):
        """Make the net driven by endpoint ``source`` (a (vunit, port) pair) reach
        ``sink``; the net is created on ``network`` with the first sink."""
        _, sinks = self._nets.setdefault(source, (network, []))
        if sink not in sinks:
            sinks.append(sink)

    def splice(self, source, sink, via_in, via_out):
        """Put a unit on the branch of ``source``'s net that reaches ``sink``: the net
        reaches ``via_in`` in ``sink``'s place, and a new net, on the same network,
        takes ``via_out`` to ``sink``."""
        network, sinks = self._nets[source]
        sinks[sinks.index(sink)] = via_in
        self.connect(via_out, sink, network)

    def fanouts(self, network):
        """``{source: (sinks)}`` of the nets on ``network`` so far, in net order."""
        return {src: tuple(sinks) for src, (net, sinks) in self._nets.items()
                if net == network}

    def drop(self, name):
        """Remove vunit ``name``, which must be on no net."""
        assert not any(name in (src[0], *(s[0] for s in sinks))
                       for src, (_, sinks) in self._nets.items()), name
        self._vunits = [v for v in self._vunits if v.name != name]

    def drives(self, source):
        """Whether endpoint ``source`` drives a net."""
        return source in self._nets

    def netlist(self):
        """The :class:`Netlist` of everything added; each net is named after its
        source, ``vunit/port``."""
        nets = tuple(Net(f"{src[0]}/{src[1]}", network, src, tuple(sinks))
                     for src, (network, sinks) in self._nets.items())
        return Netlist(tuple(self._vunits), nets)
