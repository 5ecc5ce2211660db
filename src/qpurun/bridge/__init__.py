"""The bridge to Pulser: a checked spec becomes a `pulser.Sequence` and its jobs, and back.

lower.py     the checked tree to a `pulser.Sequence` (Pulser's refusals located)
devices.py   devices and layouts: loaded by name or file, and recognised in JSON
jobs.py      sweeps and job lists to the job parameters Pulser's backends take
validate.py  every job built against the device; the QPU-only rules per target
importer/    Pulser's abstract representation back to a spec (`qpurun import`)
"""
