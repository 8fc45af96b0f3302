//! The picklescan corpus (`shared/corpora/picklescan`, see its README): every malicious
//! file is refused naming the offending global (or is rejected for its structure), the two
//! good PyTorch files are extracted and compared with what torch itself loads
//! (`tests/fixtures/pickle/corpus_expected.json`), benign pickles without tensors end in a
//! clear "no tensors found". No false acceptance.

mod pickle_support;

use std::time::{Duration, Instant};

use modelseal_loaders::{ErrorKind, Options};
use pickle_support::{check_tensors, corpus, fixtures, load};

/// What each file must produce.
enum Expect {
    /// Extracted; tensors compared with `corpus_expected.json`.
    Good,
    /// Unsupported: "no tensors found".
    NoTensors,
    /// Refused, the message naming every listed global.
    Refused(&'static [&'static str]),
    /// Rejected for its structure (any error), the message containing this text.
    Rejected(&'static str),
    /// A malicious file of another loader's format (NumPy object arrays): must be rejected.
    NotOurs,
    /// A good file of another loader's format (NumPy): accepted (checked by its own tests).
    OthersGood,
}

use Expect::{Good, NoTensors, NotOurs, OthersGood, Refused, Rejected};

const TABLE: &[(&str, Expect)] = &[
    ("data/pytorch_model.bin", Good),
    ("data/new_pytorch_model.bin", Good),
    ("data/benign0_v0.pkl", NoTensors),
    ("data/benign0_v3.pkl", NoTensors),
    ("data/benign0_v4.pkl", NoTensors),
    ("data/malicious6.pkl", Refused(&["requests.api.get"])),
    ("data/benign_password_protected.zip", Rejected("encrypt")),
    ("data/not_a_pickle.bin", Rejected("opcode")),
    ("data/bad_pytorch.pt", Rejected("")),
    ("data/broken_model.pkl", Refused(&["builtins.exec"])),
    ("data/malicious-invalid-bytes.pkl", Refused(&["os.system"])),
    (
        "data/malicious0.pkl",
        Refused(&[
            "__builtin__.eval",
            "__builtin__.compile",
            "__builtin__.getattr",
            "__builtin__.globals",
            "__builtin__.apply",
        ]),
    ),
    ("data/malicious1.zip", Refused(&["builtins.eval"])),
    ("data/malicious1_0x1.zip", Rejected("encrypt")),
    ("data/malicious1_0x20.zip", Rejected("")),
    ("data/malicious1_0x40.zip", Rejected("encrypt")),
    ("data/malicious1_central_directory.zip", Rejected("")),
    // A zip whose only member is `data.txt`: the dispatcher rejects it as no known model
    // container before any pickle is read (`pytorch::zip::scan_members` could name the
    // global; see the report).
    (
        "data/malicious1_wrong_ext.zip",
        Rejected("not a known model container"),
    ),
    ("data/malicious1.7z", Rejected("")),
    ("data/malicious10.pkl", Refused(&["__builtin__.exec"])),
    ("data/malicious11.pkl", Refused(&["os.system"])),
    (
        "data/malicious12.pkl",
        Refused(&["operator.attrgetter", "builtins.__import__"]),
    ),
    ("data/malicious13a.pkl", Refused(&["pickle.loads"])),
    ("data/malicious13b.pkl", Refused(&["_pickle.loads"])),
    ("data/malicious14.pkl", Refused(&["runpy._run_code"])),
    (
        "data/malicious15a.pkl",
        Refused(&["__builtin__.getattr", "bdb.Bdb"]),
    ),
    (
        "data/malicious15b.pkl",
        Refused(&["bdb.Bdb.run", "bdb.Bdb"]),
    ),
    ("data/malicious16.pkl", Refused(&["pip.main"])),
    (
        "data/malicious17.pkl",
        Refused(&["torch._inductor.codecache.compile_file"]),
    ),
    ("data/malicious18.pkl", Refused(&["pydoc.pipepager"])),
    (
        "data/malicious19.pkl",
        Refused(&["functools.partial", "torch.serialization.load"]),
    ),
    ("data/malicious1_v0.pkl", Refused(&["__builtin__.eval"])),
    ("data/malicious1_v3.pkl", Refused(&["builtins.eval"])),
    ("data/malicious1_v4.pkl", Refused(&["builtins.eval"])),
    ("data/malicious20.pkl", Refused(&["venv.create"])),
    ("data/malicious2_v0.pkl", Refused(&["posix.system"])),
    ("data/malicious2_v3.pkl", Refused(&["posix.system"])),
    ("data/malicious2_v4.pkl", Refused(&["posix.system"])),
    ("data/malicious3.pkl", Refused(&["httplib.HTTPSConnection"])),
    ("data/malicious4.pickle", Refused(&["requests.api.get"])),
    (
        "data/malicious5.pickle",
        Refused(&["aiohttp.client.ClientSession"]),
    ),
    (
        "data/malicious7.pkl",
        Refused(&["socket.create_connection"]),
    ),
    ("data/malicious8.pkl", Refused(&["subprocess.run"])),
    ("data/malicious9.pkl", Refused(&["sys.exit"])),
    (
        "data/pytorch_magic_bypass.pt",
        Refused(&["__builtin__.eval", "posix.system"]),
    ),
    // Monkey-patches torch._utils by BUILD so that a later STACK_GLOBAL yields builtins.eval:
    // the patch itself (BUILD on a global) and torch._utils are what is refused.
    (
        "data/sys_module_override_sploit.pkl",
        Refused(&["torch._utils", "BUILD on the global torch._utils"]),
    ),
    (
        "data2/GHSA-3gf5-cxq9-w223.pkl",
        Refused(&["idlelib.pyshell.ModifiedInterpreter.runcode"]),
    ),
    (
        "data2/GHSA-3vg9-h568-4w9m.pkl",
        Refused(&["idlelib.debugobj.ObjectTreeItem.SetText"]),
    ),
    ("data2/GHSA-4675-36f9-wf6r.pkl", Refused(&["ctypes.CDLL"])),
    (
        "data2/GHSA-46h3-79wf-xr6c.pkl",
        Refused(&["builtins.__import__", "_operator.attrgetter"]),
    ),
    ("data2/GHSA-49gj-c84q-6qm9.pkl", Refused(&["cProfile.run"])),
    (
        "data2/GHSA-4r9r-ch6f-vxmx.pkl",
        Refused(&["torch.utils.bottleneck.__main__.run_cprofile"]),
    ),
    (
        "data2/GHSA-4whj-rm5r-c2v8.pkl",
        Refused(&["torch.utils.bottleneck.__main__.run_autograd_prof"]),
    ),
    (
        "data2/GHSA-5qwp-399c-mjwf.pkl",
        Refused(&["trace.Trace.run"]),
    ),
    (
        "data2/GHSA-6vqj-c2q5-j97w.pkl",
        Refused(&["profile.Profile.runctx"]),
    ),
    (
        "data2/GHSA-6w4w-5w54-rjvr.pkl",
        Refused(&["idlelib.autocomplete.AutoComplete.get_entity"]),
    ),
    (
        "data2/GHSA-7cq8-mj8x-j263.pkl",
        Refused(&["idlelib.autocomplete.AutoComplete.fetch_completions"]),
    ),
    ("data2/GHSA-7wx9-6375-f5wh.pkl", Refused(&["profile.run"])),
    (
        "data2/GHSA-84r2-jw7c-4r5q.pkl",
        Refused(&["operator.methodcaller", "pydoc.locate"]),
    ),
    (
        "data2/GHSA-86cj-95qr-2p4f.pkl",
        Refused(&["torch._dynamo.guards.GuardBuilder.get"]),
    ),
    (
        "data2/GHSA-8r4j-24qv-fmq9.pkl",
        Refused(&["idlelib.calltip.Calltip.fetch_tip"]),
    ),
    (
        "data2/GHSA-955r-x9j8-7rhh.pkl",
        Refused(&["builtins.__import__", "_operator.methodcaller"]),
    ),
    (
        "data2/GHSA-9w88-8rmg-7g2p.pkl",
        Refused(&["cProfile.runctx"]),
    ),
    (
        "data2/GHSA-9xph-j2h6-g47v.pkl",
        Refused(&["idlelib.calltip.get_entity"]),
    ),
    (
        "data2/GHSA-cj3c-v495-4xqh.pkl",
        Refused(&["code.InteractiveInterpreter.runcode"]),
    ),
    (
        "data2/GHSA-f4x7-rfwp-v3xw.pkl",
        Refused(&["torch.fx.experimental.symbolic_shapes.ShapeEnv.evaluate_guards_expression"]),
    ),
    (
        "data2/GHSA-f54q-57x4-jg88.pkl",
        Refused(&["lib2to3.pgen2.grammar.Grammar.loads"]),
    ),
    (
        "data2/GHSA-f745-w6jp-hpxx.pkl",
        Refused(&["torch.utils.collect_env.run"]),
    ),
    (
        "data2/GHSA-fqq6-7vqf-w3fg.pkl",
        Refused(&["doctest.debug_script"]),
    ),
    (
        "data2/GHSA-g344-hcph-8vgg.pkl",
        Refused(&["trace.Trace.runctx"]),
    ),
    (
        "data2/GHSA-g38g-8gr9-h9xp-aix-support.pkl",
        Refused(&["_aix_support._read_cmd_output"]),
    ),
    (
        "data2/GHSA-g38g-8gr9-h9xp-imaplib.pkl",
        Refused(&["imaplib.IMAP4_stream"]),
    ),
    (
        "data2/GHSA-g38g-8gr9-h9xp-osx-support.pkl",
        Refused(&["_osx_support._read_output"]),
    ),
    (
        "data2/GHSA-g38g-8gr9-h9xp-pyrepl-pager.pkl",
        Refused(&["_pyrepl.pager.pipe_pager"]),
    ),
    (
        "data2/GHSA-g38g-8gr9-h9xp-test.pkl",
        Refused(&["test.support.script_helper.assert_python_ok"]),
    ),
    (
        "data2/GHSA-g38g-8gr9-h9xp-uuid.pkl",
        Refused(&["uuid._get_command_stdout"]),
    ),
    (
        "data2/GHSA-h3qp-7fh3-f8h4.pkl",
        Refused(&["torch.utils.data.datapipes.utils.decoder.basichandlers"]),
    ),
    (
        "data2/GHSA-j343-8v2j-ff7w.pkl",
        Refused(&["idlelib.pyshell.ModifiedInterpreter.runcommand"]),
    ),
    (
        "data2/GHSA-jgw4-cr84-mqxg.bin",
        Refused(&["asyncio.unix_events._UnixSubprocessTransport._start"]),
    ),
    (
        "data2/GHSA-jhph-76pp-mggw.pkl",
        Refused(&["torch.utils.collect_env.run_and_read_all"]),
    ),
    (
        "data2/GHSA-m273-6v24-x4m4.pkl",
        Refused(&["distutils.file_util.write_file"]),
    ),
    (
        "data2/GHSA-m869-42cg-3xwr.pkl",
        Refused(&["idlelib.run.Executive.runcode"]),
    ),
    (
        "data2/GHSA-p9w7-82w4-7q8m.pkl",
        Refused(&["lib2to3.pgen2.pgen.ParserGenerator.make_label"]),
    ),
    (
        "data2/GHSA-q77w-mwjj-7mqx.pkl",
        Refused(&["asyncio.unix_events._UnixSubprocessTransport._start"]),
    ),
    (
        "data2/GHSA-r8g5-cgf2-4m4m.pkl",
        Refused(&["numpy.f2py.crackfortran.getlincoef"]),
    ),
    ("data2/GHSA-vqmv-47xg-9wpr.pkl", Refused(&["pty.spawn"])),
    (
        "data2/GHSA-vr7h-p6mm-wpmh.pkl",
        Refused(&["torch.jit.unsupported_tensor_ops.execWrapper"]),
    ),
    (
        "data2/GHSA-vv6j-3g6g-2pvj.pkl",
        Refused(&["torch.utils._config_module.ConfigModule.load_config"]),
    ),
    (
        "data2/GHSA-vvpj-8cmc-gx39.pkl",
        Refused(&["pkgutil.resolve_name"]),
    ),
    (
        "data2/GHSA-x696-vm39-cp64.pkl",
        Refused(&["profile.Profile.run"]),
    ),
    (
        "data2/GHSA-xp4f-hrf8-rxw7.pkl",
        Refused(&["ensurepip._run_pip"]),
    ),
    (
        "data2/cloudpickle_codeinjection.pkl",
        Refused(&[
            "cloudpickle.cloudpickle._make_function",
            "cloudpickle.cloudpickle.subimport",
        ]),
    ),
    ("data2/io_FileIO.pkl", Refused(&["_io.FileIO"])),
    ("data2/keyerror-exploit.pkl", Refused(&["os.system"])),
    (
        "data2/logging_FileHandler.pkl",
        Refused(&["logging.FileHandler"]),
    ),
    ("data2/malicious1_crc.zip", Rejected("")),
    ("data2/malicious21.pkl", Refused(&["timeit.timeit"])),
    (
        "data2/malicious22.pkl",
        Refused(&["numpy.testing._private.utils.runstring"]),
    ),
    ("data2/malicious23.pkl", Refused(&["os.system"])),
    ("data2/type-confusion-exploit.pkl", Refused(&["os.system"])),
    ("data2/types_CodeType.pkl", Refused(&["types.CodeType"])),
    (
        "data2/urllib_request_urlopen.pkl",
        Refused(&["urllib.request.urlopen"]),
    ),
    ("data2/dns_exfiltration.npy", NotOurs),
    ("data2/object_array.npy", NotOurs),
    ("data2/object_arrays.npz", NotOurs),
    ("data2/object_arrays_compressed.npz", NotOurs),
    ("data2/int_array.npy", OthersGood),
    ("data2/int_arrays.npz", OthersGood),
    ("data2/int_arrays_compressed.npz", OthersGood),
];

/// Bound on the time any corpus file may take.
const PER_FILE: Duration = Duration::from_secs(10);

#[test]
fn pickle_corpus_verdicts() {
    let Some(dir) = corpus() else {
        eprintln!("SKIPPED: picklescan corpus (shared/corpora/picklescan) not found");
        return;
    };
    let expected_tensors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("corpus_expected.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    // Every file in the corpus is in the table.
    let mut on_disk = Vec::new();
    for sub in ["data", "data2"] {
        for e in std::fs::read_dir(dir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            on_disk.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
        }
    }
    let mut failures = Vec::new();
    for f in &on_disk {
        if !TABLE.iter().any(|(n, _)| n == f) {
            failures.push(format!("{f}: not in the test table"));
        }
    }
    for (rel, expect) in TABLE {
        let Ok(bytes) = std::fs::read(dir.join(rel)) else {
            failures.push(format!("{rel}: missing"));
            continue;
        };
        let started = Instant::now();
        let (r, host) = load(bytes, &Options::default());
        if started.elapsed() > PER_FILE {
            failures.push(format!("{rel}: took {:?}", started.elapsed()));
        }
        match (expect, r) {
            (Good, Ok(res)) => {
                let empty = Vec::new();
                let exp = expected_tensors[*rel].as_array().unwrap_or(&empty);
                if exp.is_empty() {
                    failures.push(format!("{rel}: no expectation (run make_fixtures.py)"));
                }
                for p in check_tensors(&res, &host, exp) {
                    failures.push(format!("{rel}: {p}"));
                }
            }
            (NoTensors, Err(e))
                if e.kind == ErrorKind::Unsupported && e.message.contains("no tensors found") => {}
            (Refused(names), Err(e)) if e.kind == ErrorKind::Refused => {
                for n in *names {
                    let is_global = !n.contains(' ');
                    if !e.message.contains(n)
                        || (is_global && !e.globals.iter().any(|g| g.name == *n))
                    {
                        failures.push(format!("{rel}: refusal does not name {n}: {}", e.message));
                    }
                }
            }
            (Rejected(text), Err(e)) => {
                if !e.message.to_lowercase().contains(text) {
                    failures.push(format!("{rel}: error does not mention {text:?}: {e:?}"));
                }
            }
            (NotOurs, Err(_)) => {}
            (OthersGood, Ok(res)) if !res.tensors.is_empty() => {}
            (_, Ok(res)) => failures.push(format!(
                "{rel}: FALSE ACCEPTANCE ({} tensors)",
                res.tensors.len()
            )),
            (_, Err(e)) => failures.push(format!("{rel}: unexpected {e:?}")),
        }
        if !matches!(expect, Good | OthersGood) && !host.output.is_empty() {
            failures.push(format!(
                "{rel}: rejected file wrote {} output bytes",
                host.output.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
