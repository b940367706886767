"""Pure builders and parsers: no SLURM needed."""

from __future__ import annotations

import logging
import shlex
import subprocess
from pathlib import Path

import pytest

from gateway_kit.errors import ConfigError
from gateway_kit.jobs.states import JobState
from gateway_kit.slurm import commands as cmd
from gateway_kit.slurm import hostlist
from gateway_kit.slurm.elastic import (
    NodeInfo,
    first_address,
    flavor_for,
    parse_scontrol_nodes,
    render_user_data,
)
from gateway_kit.slurm.errors import SlurmUnavailable, SubmitRejected
from gateway_kit.slurm.states import NATIVE_STATES, map_state
from gateway_kit.slurm.transport import SshTarget

ROOT = Path(__file__).resolve().parents[2]
NASTY = [
    "a b",
    "$(touch /tmp/pwned)",
    "`id`",
    "x; rm -rf /",
    "'quoted'",
    '"dq"',
    "new\nline",
    "*",
    "$HOME",
    "a|b&c>d<e",
    "\\",
    "--",
    "-n",
    "é✓",
]


def job(**kw: object) -> cmd.BatchJob:
    base: dict[str, object] = {"name": "gk-hpc-1", "workdir": "/shared/jobs/1", "argv": ("/bin/echo", "hi")}
    base.update(kw)
    return cmd.BatchJob(**base)  # type: ignore[arg-type]


def test_directives_from_resources_and_destination() -> None:
    dest = cmd.DestinationOptions.from_mapping(
        {
            "partition": "gpu",
            "account": "TG-ABC123",
            "qos": "normal",
            "extra_options": ["--constraint=avx2", "--exclusive"],
        }
    )
    d = cmd.sbatch_directives(
        job(resources=cmd.BatchResources(cpus=4, memory_mb=2048, gpus=2, walltime=3661), destination=dest)
    )
    assert d == [
        "--job-name=gk-hpc-1",
        "--nodes=1",
        "--ntasks=1",
        "--cpus-per-task=4",
        "--mem=2048M",
        "--gres=gpu:2",
        "--time=0-01:01:01",
        "--partition=gpu",
        "--account=TG-ABC123",
        "--qos=normal",
        "--constraint=avx2",
        "--exclusive",
    ]


def test_gpus_option_and_type() -> None:
    dest = cmd.DestinationOptions.from_mapping({"gpu_option": "gpus", "gpu_type": "a100"})
    assert "--gpus=a100:1" in cmd.sbatch_directives(
        job(resources=cmd.BatchResources(gpus=1), destination=dest)
    )
    dest = cmd.DestinationOptions.from_mapping({"gpu_type": "a100"})
    assert "--gres=gpu:a100:3" in cmd.sbatch_directives(
        job(resources=cmd.BatchResources(gpus=3), destination=dest)
    )
    assert not any("gpu" in d for d in cmd.sbatch_directives(job()))


def test_walltime_format() -> None:
    assert cmd.format_walltime(60) == "0-00:01:00"
    assert cmd.format_walltime(2 * 86400 + 5) == "2-00:00:05"
    with pytest.raises(ValueError):
        cmd.format_walltime(0)


@pytest.mark.parametrize(
    "bad",
    [
        {"partition": "debug\n#SBATCH --uid=0"},
        {"partition": "a b"},
        {"account": "x;id"},
        {"qos": "$(id)"},
        {"extra_options": ["--comment=x y"]},
        {"extra_options": ["-x"]},
        {"extra_options": ["--begin=now\nrm -rf /"]},
        {"extra_options": "--mail-user=`id`"},
        {"gpu_option": "cuda"},
        {"setup": ["module load a\nmodule load b"]},
    ],
)
def test_destination_values_that_could_inject_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        cmd.DestinationOptions.from_mapping(bad, where="Destination 'hpc'")


def test_job_name_is_sanitised() -> None:
    assert cmd.job_name("gk-dest-1") == "gk-dest-1"
    assert cmd.job_name("a b\n#SBATCH x") == "a_b__SBATCH_x"
    assert len(cmd.job_name("x" * 300)) == 64


def test_script_quotes_every_argument_and_bash_gives_them_back(tmp_path: Path) -> None:
    script = cmd.render_batch_script(
        job(argv=("printf", "%s\\0", *NASTY), workdir=str(tmp_path), environment={"GREETING": "$(id) `x` ;"})
    )
    assert "#SBATCH --job-name=gk-hpc-1" in script
    # Run the body with bash: every argument arrives byte for byte, nothing is executed.
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True, cwd=tmp_path)
    assert out.stdout.decode().split("\0")[:-1] == NASTY
    assert not Path("/tmp/pwned").exists()
    assert "export GREETING='$(id) `x` ;'" in script
    # directives come before the first command (sbatch stops reading them there)
    lines = script.splitlines()
    first_cmd = next(i for i, ln in enumerate(lines) if ln and not ln.startswith("#"))
    assert all(not ln.startswith("#SBATCH") for ln in lines[first_cmd:])


def test_bad_environment_name_and_nul_are_refused() -> None:
    with pytest.raises(ValueError):
        cmd.render_batch_script(job(environment={"A;B": "x"}))
    with pytest.raises(ValueError):
        cmd.render_batch_script(job(argv=("echo", "a\x00b")))


def test_template_can_be_overridden() -> None:
    template = "#!/bin/sh\n{% for d in directives %}#SBATCH {{ d }}\n{% endfor %}exec {{ command }}\n"
    script = cmd.render_batch_script(job(argv=("echo", "a b")), template)
    assert script.endswith("exec echo 'a b'\n")


def test_sbatch_argv_takes_paths_as_arguments() -> None:
    argv = cmd.sbatch_argv(job(workdir="/shared/my jobs/1/"))
    assert argv == [
        "sbatch",
        "--parsable",
        "--chdir=/shared/my jobs/1",
        "--output=/shared/my jobs/1/stdout.txt",
        "--error=/shared/my jobs/1/stderr.txt",
    ]


def test_parse_sbatch() -> None:
    assert cmd.parse_sbatch(0, "123\n", "") == "123"
    assert cmd.parse_sbatch(0, "124;cluster\n", "") == "124"
    with pytest.raises(SubmitRejected) as exc:
        cmd.parse_sbatch(
            1,
            "",
            "sbatch: error: invalid partition specified: nope\n"
            "sbatch: error: Batch job submission failed: Invalid partition name "
            "specified\n",
        )
    assert exc.value.user_message == (
        "SLURM rejected the job: invalid partition specified: nope; Invalid partition name specified"
    )
    with pytest.raises(SlurmUnavailable):
        cmd.parse_sbatch(
            1,
            "",
            "sbatch: error: Batch job submission failed: Unable to contact slurm "
            "controller (connect failure)\n",
        )


def test_squeue_and_sacct_argv_are_one_command_for_many_jobs() -> None:
    ids = [str(i) for i in range(1, 1001)]
    argv = cmd.squeue_argv(ids)
    assert argv[:3] == ["squeue", "--noheader", "--states=all"]
    assert argv[3] == "--jobs=" + ",".join(ids)
    assert cmd.sacct_argv(["5", "7"])[4] == "--jobs=5,7"
    assert cmd.scancel_argv(["5", "7"]) == ["scancel", "5", "7"]
    with pytest.raises(ValueError):
        cmd.squeue_argv(["1;id"])
    with pytest.raises(ValueError):
        cmd.scancel_argv([])


def test_parse_squeue() -> None:
    out = (
        "2|COMPLETED|None|0|gknode1|2024-01-01T10:00:00|2024-01-01T10:00:01|\n"
        "1|FAILED|NonZeroExitCode|768|gknode1|2024-01-01T10:00:00|2024-01-01T10:00:01|\n"
        "3|TIMEOUT|TimeLimit|0|gknode1|2024-01-01T10:00:00|2024-01-01T10:02:00|\n"
        "4|RUNNING|None|0|gknode1|2024-01-01T10:00:00|2024-01-01T11:00:00|\n"
        "5|PENDING|ReqNodeNotAvail, UnavailableNodes:c[1-2]|0||2024-01-01T12:00:00|N/A|\n"
        "6|CANCELLED|None|15|gknode1|2024-01-01T10:00:00|2024-01-01T10:00:03|\n"
        "7|OUT_OF_MEMORY|OutOfMemory|0|n|2024-01-01T10:00:00|2024-01-01T10:00:03|\n"
    )
    st = cmd.parse_squeue(out)
    assert st["2"].state is JobState.COMPLETED and st["2"].exit_code == 0 and st["2"].reason == ""
    assert st["1"].state is JobState.FAILED and st["1"].exit_code == 3
    assert st["3"].state is JobState.TIMED_OUT and st["3"].reason == "TIMEOUT"
    assert st["4"].state is JobState.RUNNING and st["4"].end == ""  # a guess, not an end
    assert st["5"].state is JobState.SUBMITTED and st["5"].start == ""
    assert st["5"].reason == "ReqNodeNotAvail, UnavailableNodes:c[1-2]"
    assert st["6"].state is JobState.CANCELED and st["6"].signal == 15
    assert st["7"].state is JobState.FAILED and st["7"].reason == "OUT_OF_MEMORY"


def test_parse_sacct() -> None:
    out = (
        "10|COMPLETED|0:0|None|n1|2024-01-01T10:00:00|2024-01-01T10:00:01\n"
        "11|CANCELLED by 0|0:15|None|n1|2024-01-01T10:00:00|2024-01-01T10:00:01\n"
        "12|NODE_FAIL|1:0|NodeDown|n1|Unknown|Unknown\n"
        "13|PREEMPTED|0:0|None|n1|2024-01-01T10:00:00|2024-01-01T10:00:01\n"
        "13.batch|COMPLETED|0:0|None|n1|x|y\n"
    )
    st = cmd.parse_sacct(out)
    assert set(st) == {"10", "11", "12", "13"}
    assert st["11"].state is JobState.CANCELED and st["11"].signal == 15
    assert st["12"].reason == "NODE_FAIL" and st["12"].exit_code == 1
    assert st["13"].reason == "PREEMPTED" and st["13"].state is JobState.FAILED
    assert cmd.accounting_disabled(1, "", "Slurm accounting storage is disabled")


def test_state_table(caplog: pytest.LogCaptureFixture) -> None:
    assert map_state("PD") is JobState.SUBMITTED
    assert map_state("CG") is JobState.RUNNING
    assert map_state("COMPLETING+") is JobState.RUNNING
    assert map_state("CANCELLED by 1000") is JobState.CANCELED
    assert all(isinstance(v, JobState) for v in NATIVE_STATES.values())
    with caplog.at_level(logging.WARNING):
        assert map_state("LAUNCH_FAILED_NEW") is JobState.UNKNOWN
    assert "not in the state table" in caplog.text


def test_hostlist_expand_and_compress() -> None:
    assert hostlist.expand("c[1-3,7]") == ["c1", "c2", "c3", "c7"]
    assert hostlist.expand("gpu[08-10],login") == ["gpu08", "gpu09", "gpu10", "login"]
    assert hostlist.expand("r[1-2]-n[1,3]") == ["r1-n1", "r1-n3", "r2-n1", "r2-n3"]
    assert hostlist.expand("a,a,b") == ["a", "b"]
    assert hostlist.compress(hostlist.expand("c[1-3,7],gpu[08-11]")) == "c[1-3,7],gpu[08-11]"
    for bad in ("c[1-", "c]1[", "c[3-1]", "c[a-b]"):
        with pytest.raises(ValueError):
            hostlist.expand(bad)


def test_ssh_argv_quotes_the_remote_command() -> None:
    target = SshTarget("login.example.org", user="gw", key_file="/k", known_hosts="/kh")
    argv = target.argv(["squeue", "--name=a b;id"])
    assert argv[0] == "ssh" and "BatchMode=yes" in argv and "StrictHostKeyChecking=yes" in argv
    assert argv[argv.index("-i") + 1] == "/k" and "UserKnownHostsFile=/kh" in argv
    assert argv[-3:-1] == ["gw@login.example.org", "--"]
    assert shlex.split(argv[-1]) == ["squeue", "--name=a b;id"]
    with pytest.raises(ValueError):
        SshTarget("-oProxyCommand=id").argv(["x"])


def test_an_ssh_destination_reaches_its_login_node_with_the_kits_key() -> None:
    from gateway_kit.errors import ConfigError
    from gateway_kit.slurm.executor import build_transport
    from gateway_kit.slurm.transport import SSHTransport

    options = {"transport": "ssh", "ssh_host": "login.example.org", "ssh_user": "gw", "ssh_port": 2222}
    transport = build_transport("hpc", options, {"SLURM_SSH_KEY": "/k", "SLURM_SSH_KNOWN_HOSTS": "/kh"})
    assert isinstance(transport, SSHTransport)
    assert transport.target == SshTarget(
        "login.example.org", user="gw", port=2222, key_file="/k", known_hosts="/kh"
    )
    with pytest.raises(ConfigError, match="needs 'ssh_host'"):
        build_transport("hpc", {"transport": "ssh"}, {})


def test_elastic_pure_parts() -> None:
    text = (
        "NodeName=gkcloud1 Arch=x86_64 CoresPerSocket=1 AvailableFeatures=small "
        "ActiveFeatures=small Gres=(null) State=IDLE+CLOUD+POWERED_DOWN Reason=a b c\n"
        "NodeName=g1 AvailableFeatures=(null) Gres=gpu:2 State=IDLE\n"
    )
    nodes = parse_scontrol_nodes(text)
    assert nodes["gkcloud1"].features == ("small",) and not nodes["gkcloud1"].gpus
    assert nodes["g1"].gpus and nodes["g1"].features == ()
    flavors = {"small": "m3.small", "gpu": "g3.small", "default": "m3.quad"}
    assert flavor_for(nodes["gkcloud1"], flavors) == "m3.small"
    assert flavor_for(nodes["g1"], flavors) == "g3.small"
    assert flavor_for(NodeInfo("x", ("big",)), flavors) == "m3.quad"
    with pytest.raises(ConfigError):
        flavor_for(NodeInfo("x"), {})
    ud = render_user_data(
        (ROOT / "gateway_kit/slurm/templates/cloud-init.yaml.j2").read_text(),
        node="gkcloud1",
        cluster="c",
        controller="ctl",
        munge_key=b"\x00Zq9Xk7Secret\n",
        slurm_conf="ClusterName=c\n",
    )
    import yaml

    doc = yaml.safe_load(ud)
    files = {f["path"]: f for f in doc["write_files"]}
    assert files["/etc/munge/munge.key"]["permissions"] == "0400"
    assert files["/etc/munge/munge.key"]["encoding"] == "b64"
    assert "Zq9Xk7Secret" not in ud  # only base64 of it
    assert doc["hostname"] == "gkcloud1"
    with pytest.raises(ValueError):
        render_user_data("x", node="a\nb", cluster="", controller="", munge_key=b"", slurm_conf="")
    assert (
        first_address({"private": [{"addr": "10.0.0.5", "version": 4, "OS-EXT-IPS:type": "fixed"}]})
        == "10.0.0.5"
    )


def test_deploy_template_matches_the_packaged_one() -> None:
    shipped = (ROOT / "gateway_kit/slurm/templates/cloud-init.yaml.j2").read_text()
    assert (ROOT / "deploy/slurm/cloud-init.yaml.j2").read_text() == shipped
