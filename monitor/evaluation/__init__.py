"""Measuring claim matching on labelled data: the file formats, the measures, and the
runs behind `monitor eval` and `monitor calibrate` (docs/quality.md)."""
