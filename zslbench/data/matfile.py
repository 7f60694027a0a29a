"""MATLAB files, v5 and v7.3: reading (:func:`read_mat`) and writing (:func:`write_mat`).

MATLAB v5 files are read with scipy.io; v7.3 files are HDF5 (via h5py, optional): their arrays are stored
transposed and cell arrays of strings are object references. :func:`read_mat` hides the difference and
returns arrays in MATLAB's orientation, cell arrays as object arrays of ``str``. Every problem is a
:class:`~zslbench.data.dataset.DatasetError` whose message starts with the file's path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from zslbench.data.dataset import DatasetError


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def mat_version(path: Path) -> str:
    """"v5" (or older, readable by scipy) or "v7.3" (HDF5); DatasetError if neither."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
            # HDF5 puts its signature at 0, 512, 1024, 2048, ...: MATLAB v7.3 uses a 512-byte user block
            hdf5 = False
            for offset in (0, 512, 1024, 2048):
                fh.seek(offset)
                if fh.read(8) == _HDF5_SIGNATURE:
                    hdf5 = True
                    break
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if hdf5:
        return "v7.3"
    if len(head) < 128:
        raise DatasetError(f"{path}: not a MATLAB file (only {len(head)} bytes)")
    if head[:4] == b"\x00\x00\x00\x00" or head.startswith(b"MATLAB"):
        return "v5"
    raise DatasetError(f"{path}: not a MATLAB .mat file (no MATLAB header, not HDF5)")


def _check_v5_complete(path: Path) -> None:
    """Walk the top-level data elements of a v5 file; DatasetError if the file is truncated.

    scipy reads a truncated file's variable list without complaint, which would turn a broken download
    into a confusing "missing key" message.
    """
    import struct

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(128)
        if not head.startswith(b"MATLAB"):
            return  # v4 or unknown: left to scipy
        endian = "<" if head[126:128] == b"IM" else ">"
        offset = 128
        while offset < size:
            fh.seek(offset)
            tag = fh.read(8)
            if len(tag) < 8:
                raise DatasetError(f"{path}: unreadable MATLAB file (truncated: {size} bytes, a variable tag at byte {offset})")
            dtype, nbytes = struct.unpack(endian + "II", tag)
            if dtype >> 16:  # small data element: 4 bytes of data inside the tag
                offset += 8
                continue
            end = offset + 8 + nbytes + (0 if dtype == 15 else (-nbytes) % 8)
            if offset + 8 + nbytes > size:
                raise DatasetError(
                    f"{path}: unreadable MATLAB file (truncated: the variable at byte {offset} needs "
                    f"{offset + 8 + nbytes} bytes, the file has {size}; an interrupted download?)"
                )
            offset = end


def import_h5py(path: Path) -> Any:
    try:
        import h5py
    except ImportError:
        raise DatasetError(
            f"{path}: is a MATLAB v7.3 (HDF5) file; reading it needs h5py, which is not installed "
            "(pip install h5py)"
        ) from None
    return h5py


def mat_keys(path: Path) -> list[str]:
    """Names of the variables in a .mat file, without reading their data."""
    path = Path(path)
    if mat_version(path) == "v7.3":
        h5py = import_h5py(path)
        try:
            with h5py.File(path, "r") as f:
                return [k for k in f.keys() if not k.startswith("#")]
        except OSError as exc:
            raise DatasetError(f"{path}: unreadable HDF5 file ({exc})") from None
    import scipy.io

    _check_v5_complete(path)
    try:
        return [name for name, _, _ in scipy.io.whosmat(path)]
    except Exception as exc:  # scipy raises several types on corrupt files
        raise DatasetError(f"{path}: unreadable MATLAB file ({type(exc).__name__}: {exc})") from None


def read_mat(path: str | os.PathLike[str], keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read variables of a .mat file (v5 or v7.3) in MATLAB orientation.

    Args:
        path: the file.
        keys: variables to read (all when None). Missing ones raise DatasetError naming the file and key.

    Returns:
        key -> array: numeric arrays as in MATLAB ((rows, cols), e.g. features (d, N)), cell arrays as
        object arrays of ``str`` (strings) or arrays, char variables as a 0-d ``str`` array.
    """
    path = Path(path)
    wanted = None if keys is None else list(keys)
    if mat_version(path) == "v7.3":
        out = _read_h5(path, wanted)
    else:
        out = _read_v5(path, wanted)
    if wanted is not None:
        missing = [k for k in wanted if k not in out]
        if missing:
            raise DatasetError(
                f"{path}: missing key {missing[0]!r} (the file has: {', '.join(sorted(out)) or 'nothing'})"
            )
    return out


def _read_v5(path: Path, wanted: list[str] | None) -> dict[str, np.ndarray]:
    import scipy.io

    _check_v5_complete(path)
    try:
        raw = scipy.io.loadmat(path, variable_names=wanted, chars_as_strings=True)
        missing_any = wanted is not None and any(k not in raw for k in wanted)
        present = [name for name, _, _ in scipy.io.whosmat(path)] if missing_any else []
    except NotImplementedError:  # a v7.3 file whose HDF5 signature sits further in
        return _read_h5(path, wanted)
    except Exception as exc:  # corrupt files raise ValueError, TypeError, OSError, ...
        raise DatasetError(f"{path}: unreadable MATLAB file ({type(exc).__name__}: {exc})") from None
    out: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        if key.startswith("__"):
            continue
        if isinstance(value, np.ndarray) and value.dtype == object:
            value = _v5_cell(value)
        out[key] = value
    if wanted is not None:
        # loadmat silently skips missing names; report what the file has instead
        for k in wanted:
            if k not in out and k in present:
                raise DatasetError(f"{path}: could not read key {k!r}")
        missing = [k for k in wanted if k not in out]
        if missing:
            raise DatasetError(
                f"{path}: missing key {missing[0]!r} (the file has: {', '.join(sorted(present))})"
            )
    return out


def _v5_cell(cell: np.ndarray) -> np.ndarray:
    """Object array of 1-element char arrays (scipy's cell of strings) -> object array of str."""
    out = np.empty(cell.shape, dtype=object)
    for idx, el in np.ndenumerate(cell):
        if isinstance(el, np.ndarray) and el.dtype.kind == "U":
            out[idx] = str(el.ravel()[0]) if el.size else ""
        elif isinstance(el, str):
            out[idx] = el
        else:
            out[idx] = el
    return out


def _read_h5(path: Path, wanted: list[str] | None) -> dict[str, np.ndarray]:
    h5py = import_h5py(path)
    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            present = [k for k in f.keys() if not k.startswith("#")]
            for key in present if wanted is None else wanted:
                if key not in f:
                    raise DatasetError(
                        f"{path}: missing key {key!r} (the file has: {', '.join(sorted(present))})"
                    )
                obj = f[key]
                if not isinstance(obj, h5py.Dataset):
                    raise DatasetError(f"{path}: key {key!r} is a MATLAB struct, which is not supported")
                out[key] = _h5_value(h5py, f, obj, path)
    except OSError as exc:
        raise DatasetError(f"{path}: unreadable HDF5 file ({exc})") from None
    return out


def _attr_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _h5_value(h5py: Any, f: Any, ds: Any, path: Path) -> Any:
    """One v7.3 dataset -> MATLAB-oriented array (or ``str`` for a char array)."""
    cls = _attr_str(ds.attrs.get("MATLAB_class", b""))
    if "MATLAB_empty" in ds.attrs and int(np.asarray(ds.attrs["MATLAB_empty"]).ravel()[0]):
        return "" if cls == "char" else np.zeros((0, 0))
    if h5py.check_dtype(ref=ds.dtype) is not None:
        refs = ds[()]
        cell = np.empty(refs.shape, dtype=object)
        for idx, ref in np.ndenumerate(refs):
            cell[idx] = _h5_value(h5py, f, f[ref], path)
        return cell.T
    data = ds[()]
    if cls == "char":
        return "".join(map(chr, np.asarray(data).T.ravel()))
    if cls == "logical":
        data = data.astype(bool)
    if cls in ("struct", "sparse") or data.dtype.names:
        raise DatasetError(f"{path}: variable {ds.name!r} is a MATLAB {cls or 'compound'}, not supported")
    return data.T if data.ndim >= 2 else data


_MATLAB_CLASS = {
    np.dtype(np.float64): "double", np.dtype(np.float32): "single", np.dtype(np.uint8): "uint8",
    np.dtype(np.uint16): "uint16", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64",
    np.dtype(np.uint32): "uint32", np.dtype(np.int16): "int16", np.dtype(np.int8): "int8",
    np.dtype(np.uint64): "uint64", np.dtype(bool): "logical",
}


def write_mat(path: str | os.PathLike[str], arrays: Mapping[str, Any], *, version: str = "v5") -> Path:
    """Write a .mat file readable by MATLAB, scipy (v5) or h5py (v7.3).

    Args:
        path: the file to write.
        arrays: name -> numeric array in MATLAB orientation (e.g. features (d, N)), a ``str``, or an
            object array of ``str`` (a cell array, e.g. allclasses_names (C, 1)).
        version: "v5" (scipy.io.savemat, uncompressed) or "v7.3" (HDF5 with MATLAB's 512-byte header).
    """
    path = Path(path)
    if version == "v5":
        import scipy.io

        scipy.io.savemat(path, dict(arrays), do_compression=False, oned_as="column")
        return path
    if version not in ("v7.3", "v73"):
        raise ValueError(f"write_mat: version must be 'v5' or 'v7.3', got {version!r}")
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        counter = iter(range(1 << 62))
        for key, value in arrays.items():
            _h5_write(h5py, f, refs, counter, key, value)
    text = (f"MATLAB 7.3 MAT-file, Platform: zslbench, Created on: {time.asctime()} "
            "HDF5 schema 1.00 .").ljust(116).encode("ascii")
    with open(path, "r+b") as fh:
        fh.write(text + b"\x00" * 8 + b"\x00\x02IM")
    return path


def _h5_write(h5py: Any, parent: Any, refs: Any, counter: Any, key: str, value: Any) -> Any:
    if isinstance(value, str):
        if not value:
            ds = parent.create_dataset(key, data=np.array([0, 0], dtype=np.uint64))
            ds.attrs["MATLAB_empty"] = np.uint8(1)
        else:
            ds = parent.create_dataset(key, data=np.array([ord(c) for c in value], np.uint16)[:, None])
            ds.attrs["MATLAB_int_decode"] = np.int32(2)
        ds.attrs["MATLAB_class"] = np.bytes_(b"char")
        return ds
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind == "U":
        arr = arr.astype(object)
        cell = np.empty(arr.T.shape, dtype=h5py.ref_dtype)
        for idx, el in np.ndenumerate(arr.T):
            cell[idx] = _h5_write(h5py, refs, refs, counter, f"r{next(counter)}", el).ref
        ds = parent.create_dataset(key, data=cell)
        ds.attrs["MATLAB_class"] = np.bytes_(b"cell")
        return ds
    if arr.dtype not in _MATLAB_CLASS:
        raise ValueError(f"write_mat: {key!r} has unsupported dtype {arr.dtype}")
    if arr.ndim < 2:
        arr = arr.reshape(-1, 1)
    data = np.ascontiguousarray(arr.T)
    ds = parent.create_dataset(key, data=data.astype(np.uint8) if arr.dtype == bool else data)
    ds.attrs["MATLAB_class"] = np.bytes_(_MATLAB_CLASS[arr.dtype].encode())
    return ds
