"""Lowering: a fused pattern graph to virtual units (PCU/PMU configurations) and nets.

Every kernel (a fused Map, or a Reduce/Fold/Scan with the Map it consumes) becomes a
loop nest on one virtual PCU, or a chain of them when it exceeds one PCU. Each operand
of a kernel reaches it either straight from the stream that produces it (when the
kernel consumes the elements in the order the stream carries them, allowing for reuse
of a head across inner loops) or through a virtual PMU that stores the tensor and
reads it back in the kernel's order (reuse, transposition, windows, constants).

One module per step (``docs/compiler.md``, "Where lowering lives"):

* :mod:`.discovery` finds the kernels of the graph;
* :mod:`.kernels` builds each kernel's loop nest and operands;
* :mod:`.delivery` chooses for each operand its stream or a PMU, comparing transfer
  sequences in closed form (:mod:`.sequences`), and :mod:`.buffering` plans the PMUs;
* :mod:`.schedule` orders the body's ops into stages, :mod:`.partition` splits them
  over PCUs and allocates registers;
* :mod:`.configs` emits the PCU and PMU configurations, :mod:`.nets` the netlist;
* :mod:`.driver` runs the steps; :mod:`.plans` holds the result's data classes.
"""

from .driver import lower
from .kernels import Kernel
from .plans import Stream, Loop, Operand, PcuPlan, PmuPlan, Lowered

__all__ = ["Stream", "Loop", "Operand", "Kernel", "PcuPlan", "PmuPlan", "Lowered", "lower"]
