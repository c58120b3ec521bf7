"""`clipfair fetch-weights` against a local server that answers like the Hugging Face Hub:
the grid's hub-hosted model lands in cache_dir, and the load an embed job does then works
with HF_HUB_OFFLINE=1 and the server gone (and does not without the fetch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from clipfair.config import resolve_params
from clipfair.models.fetch import is_remote, remote_weights

from ..conftest import ROOT, tiny_open_clip_and_hf
from ..hub_server import HubServer

REPO = "clipfair-test/tiny-clip"
SCHEMA = ROOT / "workflow" / "schemas" / "params.schema.yaml"


# the environment without the user's Hugging Face settings (each call adds its own)
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}


def _grid(datasources: dict[str, dict], backbones: list[str], names: list[str]) -> dict:
    """The real params with ``datasources`` added and a one-method grid of ``names``."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasources"].update(datasources)
    params["grid"].update(
        backbones=backbones,
        datasources=names,
        methods=["probe_gender"],
        zeroshot_sweep=False,
        adience=None,
    )
    params["compare"]["references"] = {}
    return params


def _params(tmp_path):
    """A grid of the hub's model and the demo's trained one, written and resolved."""
    hub_tiny = {"pretrained": REPO, "backbones": ["hf-clip"]}
    params = _grid({"hub_tiny": hub_tiny}, ["hf-clip", "tiny-vit"], ["hub_tiny", "demo_full"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path, resolve_params(params, SCHEMA)


def _fetch(params, cache, hub: HubServer) -> subprocess.CompletedProcess:
    """`clipfair fetch-weights` of ``params`` into ``cache``, from ``hub``."""
    cmd = ["clipfair", "fetch-weights", "--params", str(params), "--cache-dir", str(cache)]
    cmd += ["--schema", str(SCHEMA)]
    return subprocess.run(cmd, capture_output=True, text=True, env={**ENV, "HF_ENDPOINT": hub.url})


def test_which_weights_come_from_the_internet(tmp_path):
    real = resolve_params(yaml.safe_load((ROOT / "params.yaml").read_text()), SCHEMA)
    # the real grid: 6 open_clip tags of ViT-L-14, ViT-L-14-336's openai and 2 transformers
    # hub ids; not VGG-Face
    assert len(remote_weights(real)) == 9
    assert ("ViT-L-14-336", "openai") in remote_weights(real)
    assert ("hf-clip", "hf_openai_l14") in remote_weights(real)
    oc, hf = {"library": "open_clip", "model": "ViT-L-14"}, {"library": "transformers"}
    assert is_remote(oc, {"pretrained": "laion2b_s32b_b82k"})
    assert not is_remote(oc, {"pretrained": "weights/mine.pt"})  # a checkpoint file
    assert not is_remote(oc, {"pretrained": "mine.pth"})  # one the open_clip loader reads too
    assert not is_remote(oc, {"train": {"epochs": 1}})  # trained in the pipeline
    assert not is_remote({**hf, "convert_from": "tiny-vit"}, {"pretrained": REPO})
    assert not is_remote(hf, {"pretrained": str(tmp_path)})  # a local folder
    assert not is_remote({"library": "vggface"}, {"pretrained": "https://example.org/v.tgz"})


def _offline_load(cache):
    probe = (
        "import sys; from clipfair.models.backbone import load_backbone; "
        "b = load_backbone({'library': 'transformers', 'model': 'CLIPModel'}, "
        f"{{'pretrained': {REPO!r}}}, cache_dir=sys.argv[1]); print(b.image_size)"
    )
    offline = {**ENV, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    cmd = [sys.executable, "-c", probe, str(cache)]
    return subprocess.run(cmd, capture_output=True, text=True, env=offline)


def test_fetch_weights_fills_the_cache_that_offline_jobs_load_from(tmp_path):
    _, folder = tiny_open_clip_and_hf(tmp_path)
    params, config = _params(tmp_path)
    assert remote_weights(config) == [("hf-clip", "hub_tiny")]  # not the trained tiny-vit
    cache = tmp_path / "cache"
    assert _offline_load(cache).returncode != 0  # nothing cached yet: offline fails
    with HubServer({REPO: folder}) as hub:
        proc = _fetch(params, cache, hub)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 0, said[-3000:]
    assert "1 pretrained model(s) of the real grid" in said and "hf-clip/hub_tiny:" in said
    weights = [p for m, p in hub.requests if m == "GET" and p.endswith("/model.safetensors")]
    assert weights and all(p.startswith(f"/{REPO}/resolve/") for p in weights), hub.requests
    assert list(cache.rglob("model.safetensors"))
    # the server is gone: the embed job's load reads the cache alone
    loaded = _offline_load(cache)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.strip() == "64"  # the tiny model's image size


def test_a_model_the_hub_does_not_have_is_named(tmp_path):
    params, _ = _params(tmp_path)
    with HubServer({}) as hub:
        proc = _fetch(params, tmp_path, hub)
    assert proc.returncode != 0
    said = proc.stderr
    assert f"hf-clip/hub_tiny (pretrained '{REPO}')" in said, said[-3000:]  # the grid's entry
    assert "Traceback" not in said, said[-3000:]


# open_clip resolves a tag through its own registry of hub repos; the test registers one for
# the tiny model in each process (the real tags name ViT-L-14 repos of 1.7 GB)
_OPEN_CLIP_PROBE = """
import json, sys
import open_clip.pretrained as p
from clipfair.models.backbone import register_config_dir
register_config_dir(sys.argv[3])
p._PRETRAINED.setdefault("tiny-clip-vit", {})["hubtest"] = {"hf_hub": sys.argv[2] + "/"}
config = json.loads(sys.argv[4])
if sys.argv[1] == "fetch":
    from clipfair.models.fetch import fetch_weights
    fetch_weights(config, sys.argv[5])
else:
    from clipfair.models.backbone import load_backbone
    b = load_backbone(config["backbones"]["tiny-vit"], {"pretrained": "hubtest"},
                      cache_dir=sys.argv[5])
    total = sum(float(v.double().sum()) for v in b.model.state_dict().values())
    print("loaded", b.image_size, total)
"""


def test_an_open_clip_tag_is_fetched_into_the_cache_it_loads_from(tmp_path):
    oc, _ = tiny_open_clip_and_hf(tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "oc.safetensors").rename(repo / "open_clip_model.safetensors")
    hub_oc = {"pretrained": "hubtest", "backbones": ["tiny-vit"]}
    config = resolve_params(_grid({"hub_oc": hub_oc}, ["tiny-vit"], ["hub_oc"]), SCHEMA)
    assert remote_weights(config) == [("tiny-vit", "hub_oc")]
    cache, models = tmp_path / "cache", ROOT / "workflow" / "models"

    def probe(mode: str, extra: dict[str, str]) -> subprocess.CompletedProcess:
        argv = [mode, "clipfair-test/tiny-openclip", str(models), json.dumps(config), str(cache)]
        cmd = [sys.executable, "-c", _OPEN_CLIP_PROBE, *argv]
        return subprocess.run(cmd, capture_output=True, text=True, env={**ENV, **extra})

    offline = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    assert probe("load", offline).returncode != 0  # nothing cached yet
    with HubServer({"clipfair-test/tiny-openclip": repo}) as hub:
        fetched = probe("fetch", {"HF_ENDPOINT": hub.url})
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    assert "tiny-vit/hub_oc:" in fetched.stdout
    assert any(p.endswith("/open_clip_model.safetensors") for _, p in hub.requests)
    loaded = probe("load", offline)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    _, size, total = loaded.stdout.split()[-3:]
    served = sum(float(v.double().sum()) for v in oc.model.state_dict().values())
    assert size == "64" and float(total) == served  # the served weights, not a fresh init
