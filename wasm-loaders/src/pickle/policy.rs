//! Which globals a pickle may reference, and how dangerous the others are.
//!
//! Names are matched exactly (after mapping the Python 2 module names that CPython's
//! unpickler maps, such as `__builtin__` → `builtins`). Nothing is imported or called: the
//! allowlisted names are *interpreted* by this crate (see [`Known`]); every other name
//! gets a [`Risk`] class, and by default any non-allowed name refuses the whole file.
//!
//! | risk | what |
//! |---|---|
//! | `allowed` | tensor/array rebuild functions, storage classes, dtypes, plain containers ([`Known`]) |
//! | `code-execution` | anything in [`CODE_EXECUTION_MODULES`], the dangerous `builtins`, `torch.load`, dotted names (`Class.method`) in those modules |
//! | `file-or-network` | anything in [`FILE_OR_NETWORK_MODULES`], `builtins.open` |
//! | `unknown-class` | a class-like name (`CamelCase`, no dot) in a module of [`BENIGN_CLASS_ROOTS`], and the object-reconstruction helpers in [`UNKNOWN_CLASS_EXTRA`] |
//! | `unknown` | everything else (including lower-case functions in benign modules) |

use crate::result::{Dtype, Risk};

/// A torch dtype as it appears in pickles (`torch.float32`, or implied by a storage class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchDtype {
    /// A dtype modelseal supports.
    Supported(Dtype),
    /// A dtype it does not (complex, quantized, sub-byte, fnuz float8…), by torch name.
    Unsupported(&'static str),
}

/// The storage class named in a persistent id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageClass {
    /// `torch.FloatStorage` and friends: typed.
    Typed(TorchDtype),
    /// `torch.storage.UntypedStorage`: bytes (the tensor's dtype comes from elsewhere).
    Untyped,
    /// `torch.storage.TypedStorage` used directly (dtype unknown from the name).
    TypedGeneric,
}

/// What an allowlisted global means to the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// `torch._utils._rebuild_tensor`.
    RebuildTensor,
    /// `torch._utils._rebuild_tensor_v2`.
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor_v3`.
    RebuildTensorV3,
    /// `torch._utils._rebuild_parameter`.
    RebuildParameter,
    /// `torch._utils._rebuild_parameter_with_state`.
    RebuildParameterWithState,
    /// `torch._tensor._rebuild_from_type_v2`.
    RebuildFromTypeV2,
    /// `torch._utils._rebuild_device_tensor_from_numpy` (and `_rebuild_xla_tensor`).
    RebuildDeviceFromNumpy,
    /// `torch._utils._rebuild_device_tensor_from_cpu_tensor`.
    RebuildDeviceFromCpu,
    /// A torch rebuild function for a tensor kind modelseal does not support.
    UnsupportedTensor(&'static str),
    /// A storage class.
    Storage(StorageClass),
    /// A torch dtype object.
    TorchDtype(TorchDtype),
    /// `torch.Tensor` / `torch.nn.parameter.Parameter` (as a type argument).
    TorchTensorType,
    /// `torch.Size`.
    TorchSize,
    /// `torch.device`.
    TorchDevice,
    /// Other harmless torch symbols (layouts, qschemes, `_get_layout`).
    TorchSymbol,
    /// `collections.OrderedDict`, `collections.Counter`, `builtins.dict`.
    DictType,
    /// `builtins.list`, `builtins.tuple`.
    ListType,
    /// `builtins.set`, `builtins.frozenset`.
    SetType,
    /// `builtins.bytes`.
    BytesType,
    /// `builtins.bytearray`.
    ByteArrayType,
    /// `builtins.complex`.
    ComplexType,
    /// `builtins.slice`.
    SliceType,
    /// `builtins.int/float/str/bool/object` used as values.
    BuiltinType,
    /// `numpy.core.multiarray._reconstruct` (either spelling).
    NumpyReconstruct,
    /// `numpy.ndarray`.
    NumpyNdarray,
    /// `numpy.dtype`.
    NumpyDtype,
    /// `numpy.core.multiarray.scalar` (either spelling).
    NumpyScalar,
    /// `numpy.core.numeric._frombuffer` (either spelling; protocol-5 arrays).
    NumpyFrombuffer,
    /// A NumPy scalar type such as `numpy.float64` used as a value.
    NumpyType,
    /// `_codecs.encode` (how protocol < 3 pickles spell `bytes`).
    CodecsEncode,
    /// `joblib.numpy_pickle.NumpyArrayWrapper`.
    JoblibArrayWrapper,
    /// Old joblib wrappers whose data lives in other files (`NDArrayWrapper`, `ZNDArrayWrapper`).
    JoblibOldWrapper,
}

/// Modules (and their submodules) whose globals can run code.
#[rustfmt::skip]
pub const CODE_EXECUTION_MODULES: &[&str] = &[
    "os", "posix", "nt", "subprocess", "pty", "commands", "popen2", "runpy", "code", "codeop",
    "pickle", "_pickle", "cPickle", "pickletools", "marshal", "ctypes", "_ctypes", "importlib",
    "imp", "pkgutil", "pydoc", "cProfile", "profile", "_lsprof", "timeit", "pdb", "bdb", "trace",
    "sys", "operator", "_operator", "functools", "_functools", "types", "multiprocessing",
    "concurrent", "threading", "_thread", "thread", "signal", "asyncio", "idlelib", "lib2to3",
    "doctest", "distutils", "setuptools", "pip", "ensurepip", "venv", "_aix_support",
    "_osx_support", "_pyrepl", "test", "uuid", "platform", "compileall", "py_compile",
    "zipimport", "cloudpickle", "dill", "joblib", "shelve",
    "numpy.f2py", "numpy.testing", "numpy.distutils", "numpy.lib.utils", "numpy.load",
    "numpy.core._ufunc_config", "numpy.core._internal", "numpy._core._internal",
    "numpy.core._ufunc_reconstruct", "numpy._core._ufunc_reconstruct", "torch.jit", "torch._C",
    "torch.utils", "torch._dynamo", "torch._inductor", "torch.fx", "torch.hub", "torch.package",
    "torch.serialization", "torch._ops", "torch.ops", "torch._higher_order_ops",
    "torch.compiler", "torch._export", "torch.export", "torch.onnx", "torch.testing",
    "torch.backends", "torch.distributed", "torch.multiprocessing", "torch.cuda.memory",
    "torch._functorch", "torch._subclasses", "torch._prims", "torch._refs", "torch._decomp",
    "torch._library", "torch.library", "torch._lazy", "torch._logging", "torch._guards",
    "torch.load", "torch.save", "IPython", "ipykernel", "jupyter_client", "tkinter", "_tkinter",
    "readline", "rlcompleter", "site", "sysconfig",
];

/// Modules (and their submodules) whose globals can touch files or the network.
#[rustfmt::skip]
pub const FILE_OR_NETWORK_MODULES: &[&str] = &[
    "io", "_io", "logging", "urllib", "urllib2", "urllib3", "http", "httplib", "socket",
    "_socket", "ssl", "_ssl", "requests", "aiohttp", "httpx", "smtplib", "ftplib", "poplib",
    "imaplib", "telnetlib", "nntplib", "xmlrpc", "xmlrpclib", "webbrowser", "shutil",
    "tempfile", "glob", "fileinput", "filecmp", "zipfile", "tarfile", "gzip", "bz2", "lzma",
    "sqlite3", "dbm", "anydbm", "mmap", "fcntl", "select", "selectors", "asyncore", "asynchat",
    "mailbox", "smtpd", "socketserver", "SocketServer", "wsgiref", "cgi", "pathlib", "ntpath",
    "posixpath", "genericpath", "linecache", "tokenize", "codecs", "encodings", "netrc",
    "mimetypes", "paramiko", "boto3", "botocore", "fsspec", "smart_open",
];

/// Names in `builtins` that can run code.
#[rustfmt::skip]
const BUILTINS_CODE: &[&str] = &[
    "eval", "exec", "execfile", "compile", "__import__", "getattr", "setattr", "delattr",
    "globals", "locals", "vars", "apply", "input", "raw_input", "breakpoint", "help", "reload",
    "__build_class__", "memoryview", "type", "super", "classmethod", "staticmethod",
    "property", "callable", "dir", "id", "hasattr", "exit", "quit", "copyright", "credits",
    "license", "print", "__loader__", "__spec__",
];

/// Names in `builtins` that can touch files.
#[rustfmt::skip]
const BUILTINS_FILE: &[&str] = &["open", "file"];

/// Root packages whose class-like names (`CamelCase`, no dot) are classed `unknown-class`:
/// ML and data libraries whose classes hold weights and hyper-parameters.
#[rustfmt::skip]
pub const BENIGN_CLASS_ROOTS: &[&str] = &[
    "sklearn", "scipy", "numpy", "torch", "collections", "datetime", "decimal", "fractions",
    "pandas", "xgboost", "lightgbm", "catboost", "transformers", "tokenizers", "enum",
];

/// Specific non-class names classed `unknown-class`: generic object-reconstruction helpers
/// that only call the class passed to them (which is classified on its own).
pub const UNKNOWN_CLASS_EXTRA: &[&str] = &[
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
];

/// Map the Python 2 module names CPython's unpickler maps (`_compat_pickle`).
pub fn normalize_module(module: &str) -> &str {
    match module {
        "__builtin__" | "exceptions" => "builtins",
        "copy_reg" => "copyreg",
        "cPickle" => "pickle",
        "UserDict" | "UserList" | "UserString" => "collections",
        "httplib" => "http.client",
        "urllib2" => "urllib.request",
        "commands" => "subprocess",
        "thread" => "_thread",
        other => other,
    }
}

fn in_module(module: &str, root: &str) -> bool {
    module == root
        || (module.len() > root.len()
            && module.starts_with(root)
            && module.as_bytes().get(root.len()) == Some(&b'.'))
}

fn torch_dtype(name: &str) -> Option<TorchDtype> {
    use TorchDtype::{Supported as S, Unsupported as U};
    Some(match name {
        "float64" | "double" => S(Dtype::F64),
        "float32" | "float" => S(Dtype::F32),
        "float16" | "half" => S(Dtype::F16),
        "bfloat16" => S(Dtype::BF16),
        "int64" | "long" => S(Dtype::I64),
        "int32" | "int" => S(Dtype::I32),
        "int16" | "short" => S(Dtype::I16),
        "int8" => S(Dtype::I8),
        "uint8" => S(Dtype::U8),
        "uint16" => S(Dtype::U16),
        "uint32" => S(Dtype::U32),
        "uint64" => S(Dtype::U64),
        "bool" => S(Dtype::BOOL),
        "float8_e4m3fn" => S(Dtype::F8_E4M3),
        "float8_e5m2" => S(Dtype::F8_E5M2),
        "complex32" => U("complex32"),
        "complex64" | "cfloat" => U("complex64"),
        "complex128" | "cdouble" => U("complex128"),
        "chalf" => U("complex32"),
        "bcomplex32" => U("bcomplex32"),
        "float8_e4m3fnuz" => U("float8_e4m3fnuz"),
        "float8_e5m2fnuz" => U("float8_e5m2fnuz"),
        "float8_e8m0fnu" => U("float8_e8m0fnu"),
        "float4_e2m1fn_x2" => U("float4_e2m1fn_x2"),
        "qint8" => U("qint8"),
        "qint32" => U("qint32"),
        "quint8" => U("quint8"),
        "quint4x2" => U("quint4x2"),
        "quint2x4" => U("quint2x4"),
        "bits1x8" => U("bits1x8"),
        "bits2x4" => U("bits2x4"),
        "bits4x2" => U("bits4x2"),
        "bits8" => U("bits8"),
        "bits16" => U("bits16"),
        "uint1" => U("uint1"),
        "uint2" => U("uint2"),
        "uint3" => U("uint3"),
        "uint4" => U("uint4"),
        "uint5" => U("uint5"),
        "uint6" => U("uint6"),
        "uint7" => U("uint7"),
        "int1" => U("int1"),
        "int2" => U("int2"),
        "int3" => U("int3"),
        "int4" => U("int4"),
        "int5" => U("int5"),
        "int6" => U("int6"),
        "int7" => U("int7"),
        _ => return None,
    })
}

fn storage_class(name: &str) -> Option<StorageClass> {
    use TorchDtype::{Supported as S, Unsupported as U};
    let dt = match name {
        "DoubleStorage" => S(Dtype::F64),
        "FloatStorage" => S(Dtype::F32),
        "HalfStorage" => S(Dtype::F16),
        "BFloat16Storage" => S(Dtype::BF16),
        "LongStorage" => S(Dtype::I64),
        "IntStorage" => S(Dtype::I32),
        "ShortStorage" => S(Dtype::I16),
        "CharStorage" => S(Dtype::I8),
        "ByteStorage" => S(Dtype::U8),
        "BoolStorage" => S(Dtype::BOOL),
        "ComplexDoubleStorage" => U("complex128"),
        "ComplexFloatStorage" => U("complex64"),
        "QInt8Storage" => U("qint8"),
        "QUInt8Storage" => U("quint8"),
        "QInt32Storage" => U("qint32"),
        "QUInt4x2Storage" => U("quint4x2"),
        "QUInt2x4Storage" => U("quint2x4"),
        "UntypedStorage" => return Some(StorageClass::Untyped),
        "TypedStorage" => return Some(StorageClass::TypedGeneric),
        _ => return None,
    };
    Some(StorageClass::Typed(dt))
}

/// The legacy tensor type names (`torch.FloatTensor`…), which old checkpoints reference.
#[rustfmt::skip]
const LEGACY_TENSOR_TYPES: &[&str] = &[
    "DoubleTensor", "FloatTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
    "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor",
];

#[rustfmt::skip]
const NUMPY_SCALAR_TYPES: &[&str] = &[
    "bool_", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "longlong", "ulonglong", "intc", "uintc", "int_", "uint",
    "intp", "uintp", "byte", "ubyte", "short", "ushort", "half", "single", "double",
    "longdouble", "complex64", "complex128", "str_", "bytes_", "object_", "void", "datetime64",
    "timedelta64",
];

/// The interpretation of an allowlisted global, or `None` if it is not allowlisted.
pub fn known(module: &str, name: &str) -> Option<Known> {
    let module = normalize_module(module);
    Some(match (module, name) {
        ("torch._utils", "_rebuild_tensor") => Known::RebuildTensor,
        ("torch._utils", "_rebuild_tensor_v2") => Known::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor_v3") => Known::RebuildTensorV3,
        ("torch._utils", "_rebuild_parameter") => Known::RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => Known::RebuildParameterWithState,
        ("torch._tensor", "_rebuild_from_type_v2") => Known::RebuildFromTypeV2,
        ("torch._utils", "_rebuild_device_tensor_from_numpy" | "_rebuild_xla_tensor") => {
            Known::RebuildDeviceFromNumpy
        }
        ("torch._utils", "_rebuild_device_tensor_from_cpu_tensor") => Known::RebuildDeviceFromCpu,
        ("torch._utils", "_rebuild_qtensor") => Known::UnsupportedTensor("quantized tensor"),
        ("torch._utils", "_rebuild_sparse_tensor") => Known::UnsupportedTensor("sparse tensor"),
        ("torch._utils", "_rebuild_nested_tensor") => Known::UnsupportedTensor("nested tensor"),
        ("torch._utils", "_rebuild_meta_tensor_no_storage") => {
            Known::UnsupportedTensor("meta tensor (no data)")
        }
        ("torch._utils", "_rebuild_wrapper_subclass") => {
            Known::UnsupportedTensor("tensor wrapper subclass")
        }
        ("torch", n) if n.ends_with("Storage") => Known::Storage(storage_class(n)?),
        ("torch.cuda", n) if n.ends_with("Storage") => Known::Storage(storage_class(n)?),
        ("torch.storage", "UntypedStorage" | "TypedStorage") => {
            Known::Storage(storage_class(name)?)
        }
        ("torch", "Tensor") | ("torch.nn.parameter", "Parameter") | ("torch._tensor", "Tensor") => {
            Known::TorchTensorType
        }
        ("torch" | "torch.cuda", n) if LEGACY_TENSOR_TYPES.contains(&n) => Known::TorchTensorType,
        ("torch", "Size") => Known::TorchSize,
        ("torch", "device") => Known::TorchDevice,
        (
            "torch",
            "per_tensor_affine"
            | "per_tensor_symmetric"
            | "per_channel_affine"
            | "per_channel_symmetric"
            | "per_channel_affine_float_qparams"
            | "strided"
            | "sparse_coo"
            | "sparse_csr"
            | "sparse_csc"
            | "sparse_bsr"
            | "sparse_bsc"
            | "_mkldnn",
        ) => Known::TorchSymbol,
        ("torch.serialization", "_get_layout") => Known::TorchSymbol,
        ("torch", n) => Known::TorchDtype(torch_dtype(n)?),
        ("collections", "OrderedDict" | "Counter") => Known::DictType,
        ("builtins", "dict") => Known::DictType,
        ("builtins", "list" | "tuple") => Known::ListType,
        ("builtins", "set" | "frozenset") => Known::SetType,
        ("builtins", "bytes") => Known::BytesType,
        ("builtins", "bytearray") => Known::ByteArrayType,
        ("builtins", "complex") => Known::ComplexType,
        ("builtins", "slice") => Known::SliceType,
        ("builtins", "int" | "float" | "str" | "bool" | "object" | "unicode" | "long") => {
            Known::BuiltinType
        }
        ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
            Known::NumpyReconstruct
        }
        ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Known::NumpyScalar,
        ("numpy.core.numeric" | "numpy._core.numeric", "_frombuffer") => Known::NumpyFrombuffer,
        ("numpy", "ndarray") => Known::NumpyNdarray,
        ("numpy", "dtype") => Known::NumpyDtype,
        ("numpy", n) if NUMPY_SCALAR_TYPES.contains(&n) => Known::NumpyType,
        ("_codecs", "encode") => Known::CodecsEncode,
        ("joblib.numpy_pickle" | "sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper") => {
            Known::JoblibArrayWrapper
        }
        (
            "joblib.numpy_pickle"
            | "joblib.numpy_pickle_compat"
            | "sklearn.externals.joblib.numpy_pickle",
            "NDArrayWrapper" | "ZNDArrayWrapper",
        ) => Known::JoblibOldWrapper,
        _ => return None,
    })
}

/// True for a class-like attribute name: no dot, first letter (after `_`) upper-case, not
/// all upper-case (constants).
fn class_like(name: &str) -> bool {
    if name.contains('.') || name.is_empty() {
        return false;
    }
    let trimmed = name.trim_start_matches('_');
    let Some(first) = trimmed.chars().next() else {
        return false;
    };
    let all_upper = trimmed
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    first.is_ascii_uppercase()
        && !all_upper
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_module(module: &str) -> bool {
    !module.is_empty()
        && module
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// The risk class of `module.name`.
pub fn classify(module: &str, name: &str) -> Risk {
    if known(module, name).is_some() {
        return Risk::Allowed;
    }
    let module = normalize_module(module);
    if module == "builtins" {
        let first = name.split('.').next().unwrap_or(name);
        if BUILTINS_FILE.contains(&first) {
            return Risk::FileOrNetwork;
        }
        if BUILTINS_CODE.contains(&first) {
            return Risk::CodeExecution;
        }
        return Risk::Unknown;
    }
    // `torch.load` etc. are attributes of `torch`, spelled as module "torch".
    let full = format!("{module}.{name}");
    if CODE_EXECUTION_MODULES
        .iter()
        .any(|m| in_module(module, m) || in_module(&full, m))
    {
        return Risk::CodeExecution;
    }
    if FILE_OR_NETWORK_MODULES
        .iter()
        .any(|m| in_module(module, m) || in_module(&full, m))
    {
        return Risk::FileOrNetwork;
    }
    if UNKNOWN_CLASS_EXTRA.contains(&full.as_str()) {
        return Risk::UnknownClass;
    }
    let root = module.split('.').next().unwrap_or(module);
    if valid_module(module) && BENIGN_CLASS_ROOTS.contains(&root) && class_like(name) {
        return Risk::UnknownClass;
    }
    Risk::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(
            classify("torch._utils", "_rebuild_tensor_v2"),
            Risk::Allowed
        );
        assert_eq!(classify("__builtin__", "set"), Risk::Allowed);
        assert_eq!(classify("os", "system"), Risk::CodeExecution);
        assert_eq!(classify("posix", "system"), Risk::CodeExecution);
        assert_eq!(classify("builtins", "eval"), Risk::CodeExecution);
        assert_eq!(classify("__builtin__", "open"), Risk::FileOrNetwork);
        assert_eq!(classify("_io", "FileIO"), Risk::FileOrNetwork);
        assert_eq!(classify("torch", "load"), Risk::CodeExecution);
        assert_eq!(classify("torch.serialization", "load"), Risk::CodeExecution);
        assert_eq!(
            classify("torch.serialization", "_get_layout"),
            Risk::Allowed
        );
        assert_eq!(classify("sklearn.pipeline", "Pipeline"), Risk::UnknownClass);
        assert_eq!(classify("bdb", "Bdb.run"), Risk::CodeExecution);
        assert_eq!(classify("sklearn.pipeline", "Pipeline.fit"), Risk::Unknown);
        assert_eq!(classify("sklearn.utils", "resolve"), Risk::Unknown);
        assert_eq!(classify("__main__", "Net"), Risk::Unknown);
        assert_eq!(
            classify("torch.nn.modules.linear", "Linear"),
            Risk::UnknownClass
        );
        assert_eq!(
            classify("torch.utils.data", "DataLoader"),
            Risk::CodeExecution
        );
        assert_eq!(classify("torch", "_utils"), Risk::Unknown);
        assert_eq!(classify("torch ", "FloatStorage"), Risk::Unknown);
        assert_eq!(classify("numpy", "float64"), Risk::Allowed);
        assert_eq!(
            classify("numpy.core.multiarray", "_reconstruct"),
            Risk::Allowed
        );
        assert_eq!(
            classify("numpy.core", "_ufunc_reconstruct"),
            Risk::CodeExecution
        );
        assert_eq!(classify("torch", "LongStorage"), Risk::Allowed);
        assert_eq!(classify("torch", "FooStorage"), Risk::UnknownClass);
        assert_eq!(classify("torch", "not_a_storage"), Risk::Unknown);
        assert_eq!(classify("copyreg", "_reconstructor"), Risk::UnknownClass);
        assert_eq!(classify("pkgutil", "resolve_name"), Risk::CodeExecution);
        assert_eq!(classify("webbrowser", "open"), Risk::FileOrNetwork);
        assert_eq!(
            classify("numpy.testing._private.utils", "runstring"),
            Risk::CodeExecution
        );
    }
}
