"""Pure planners: models in, concrete artefacts (QEMU argv, domain XML pieces) out. No I/O."""
