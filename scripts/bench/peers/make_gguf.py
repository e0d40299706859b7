#!/usr/bin/env python3
"""Re-quantizes a GGUF with the `gguf` package: every tensor is dequantized to f32 (as
reclora's export does) and every 2-D weight written as TYPE (Q8_0, Q4_0 or F32); 1-D tensors
(norms) stay F32. Metadata is copied. So the Q8_0 (Q4_0) file holds the same blocks as a
reclora q8 (q4) bundle exported from the same source weights.

usage: make_gguf.py SRC.gguf OUT.gguf TYPE
"""
import sys

import gguf
import numpy as np

FILE_TYPES = {"F32": 0, "Q4_0": 2, "Q8_0": 7}


def main():
    src, out, kind = sys.argv[1:4]
    qtype = gguf.GGMLQuantizationType[kind]
    reader = gguf.GGUFReader(src, "r")
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(out, arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = FILE_TYPES[kind]
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    for tensor in reader.tensors:
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        values = values.reshape(tuple(reversed([int(d) for d in tensor.shape])))
        if values.ndim >= 2 and qtype != gguf.GGMLQuantizationType.F32:
            writer.add_tensor(tensor.name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(tensor.name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
