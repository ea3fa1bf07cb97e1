"""Which compute backends this PyTorch really uses, for bench/train.ts: a fair baseline needs an optimized BLAS.

Debian's python3-torch is built against the generic libblas.so.3, which the alternatives system points to
the reference BLAS, OpenBLAS, BLIS or MKL; with the reference BLAS its GEMMs run ~10x slower and every
ratio against it is meaningless. This runs a matmul and a convolution, then reads which libraries the
process maps (/proc/self/maps), and prints one JSON object: torch version, the BLAS (kind, variant,
version, file), oneDNN (available, enabled, version), ok, and when not ok the command that fixes it.
"""
import ctypes, json, os, re, sys, sysconfig

import torch
import torch.nn.functional as F

a = torch.randn(256, 256)
(a @ a).sum()  # the BLAS path (Debian's build: sgemm_ of libblas.so.3)
F.conv2d(torch.randn(2, 8, 16, 16), torch.randn(8, 8, 3, 3), padding=1).sum()  # the conv path
regions = []  # (start, end, file) of every file-backed mapping
for line in open('/proc/self/maps'):
    fields = line.split()
    if len(fields) >= 6 and fields[5].startswith('/'):
        lo, hi = (int(v, 16) for v in fields[0].split('-'))
        regions.append((lo, hi, ' '.join(fields[5:])))
maps = sorted({r[2] for r in regions})


def mapped(pattern):
    return [p for p in maps if re.search(pattern, os.path.basename(p))]


def sgemm_provider():
    """The file whose sgemm_ torch's own library resolves to (its dependency order, as the loader binds it)."""
    for lib in mapped(r'^libtorch_cpu\.so'):
        try:
            addr = ctypes.cast(ctypes.CDLL(lib)['sgemm_'], ctypes.c_void_p).value
        except (OSError, AttributeError):
            continue
        return next((f for lo, hi, f in regions if lo <= addr < hi), None)
    return None


multiarch = sysconfig.get_config_var('MULTIARCH') or 'x86_64-linux-gnu'
libdir = f'/usr/lib/{multiarch}'
alternative = f'libblas.so.3-{multiarch}'
config = torch.__config__.show()
blas = {'kind': 'unknown', 'variant': None, 'version': None, 'file': None}
provider = sgemm_provider()
if provider:
    blas['file'] = provider
    if re.search(r'openblas', provider, re.I):
        variant = re.search(r'openblas-(pthread|openmp|serial)', provider) or re.search(r'libopenblas(p|o)?-', provider)
        core = mapped(r'^libopenblas.*-r\d')
        version = core and re.search(r'-r(\d+\.\d+\.\d+)', os.path.basename(core[0]))
        kind = variant and {'p': 'pthread', 'o': 'openmp', None: 'serial'}.get(variant.group(1), variant.group(1))
        blas.update(kind='OpenBLAS', variant=kind, version=version and version.group(1))
    elif re.search(r'mkl', provider, re.I):
        blas['kind'] = 'MKL'
    elif re.search(r'blis', provider, re.I):
        blas['kind'] = 'BLIS'
    elif re.search(r'atlas', provider, re.I):
        blas['kind'] = 'ATLAS'
    elif re.search(r'/blas/libblas\.so', provider):
        blas['kind'] = 'reference'
elif torch.backends.mkl.is_available():
    blas.update(kind='MKL', file='(linked into torch)')  # e.g. PyPI wheels: MKL inside libtorch_cpu
elif 'BLAS_INFO=open' in config:
    blas.update(kind='OpenBLAS', file='(linked into torch)')

dnn_version = re.search(r'MKL-DNN v(\d+(?:\.\d+)*)', config)
mkldnn = {
    'available': bool(torch.backends.mkldnn.is_available()),
    'enabled': bool(torch.backends.mkldnn.enabled),
    'version': dnn_version and dnn_version.group(1),
    'mapped': bool(mapped(r'^libdnnl|^libmkldnn')) or 'USE_MKLDNN=ON' in config,
}

problems, fixes = [], []
if blas['kind'] not in ('OpenBLAS', 'MKL'):
    problems.append(f"PyTorch's BLAS is {blas['kind']} ({blas['file'] or 'no libblas mapped'}), not OpenBLAS or MKL")
    target = f'{libdir}/openblas-pthread/libblas.so.3'
    if 'openblas' in os.path.realpath(f'{libdir}/libblas.so.3') and (os.environ.get('LD_LIBRARY_PATH') or os.environ.get('LD_PRELOAD')):
        fixes.append("unset LD_LIBRARY_PATH LD_PRELOAD (they load another libblas.so.3 than the alternatives' OpenBLAS)")
    elif os.path.exists(target):
        fixes.append(f'update-alternatives --set {alternative} {target}')
        lapack = f'{libdir}/openblas-pthread/liblapack.so.3'
        if os.path.exists(lapack):
            fixes.append(f'update-alternatives --set liblapack.so.3-{multiarch} {lapack}')
    else:
        fixes.append('apt-get install libopenblas0-pthread')
if not mkldnn['available']:
    problems.append('this PyTorch has no oneDNN (mkldnn) for its convolutions')
    fixes.append("apt-get install python3-torch (Debian's build has oneDNN)")
elif not mkldnn['enabled']:
    problems.append('oneDNN (mkldnn) is disabled (torch.backends.mkldnn.enabled is False)')
    fixes.append('unset whatever disables torch.backends.mkldnn')

print(json.dumps({
    'torch': torch.__version__,
    'python': sys.executable,
    'blas': blas,
    'mkldnn': mkldnn,
    'ok': not problems,
    'problem': '; '.join(problems) or None,
    'fix': ' && '.join(fixes) or None,
}))
