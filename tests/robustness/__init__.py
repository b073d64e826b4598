"""The ``terrazzo`` CLI never destroys a user's file: every command surface run on hostile
outputs (inputs, twins, symlinks, FIFOs, unwritable places, injected failures) in a
scratch folder of real files, checking the exit status, the one-line message and that
nothing but the intended outputs changed."""
