"""Synthetic datasets written in the *upstream raw layouts*, so the real converters run on them.

Three kinds, all deterministic by seed (same seed -> byte-identical files):

* ``binary``: a Kvasir-SEG style folder, ``images/<id>.jpg`` (RGB), ``masks/<id>.jpg`` (RGB JPEG,
  values near 0/255, threshold at 128 as for the real masks) and ``kavsir_bboxes.json``
  (``{id: {"height", "width", "bbox": [{"label": "polyp", "xmin", "ymin", "xmax", "ymax"}]}}``,
  one box per connected component, max exclusive). Polyp-like blobs on mucosa-like texture under
  uneven illumination, low contrast, specular highlights and noise: the polyp differs from the
  mucosa in hue (paler, less red) and texture, which a global brightness threshold cannot use.
* ``multiclass``: a Synapse (BTCV) raw style folder, ``img/imgXXXX.nii.gz`` (int16 Hounsfield
  units) and ``label/labelXXXX.nii.gz`` (uint8, raw BTCV values: spleen 1, right kidney 2, left
  kidney 3, gallbladder 4, liver 6, stomach 7, aorta 8, pancreas 11, plus the inferior vena cava 9
  which the Synapse protocol maps to background). Case ids are the 30 TransUNet ids, see
  :data:`SYNAPSE_ORDER`.
* ``acdc``: an ACDC style folder, ``training/patientNNN/patientNNN_frameNN.nii.gz`` and
  ``..._gt.nii.gz`` for the ED (frame 01) and ES frames, plus ``Info.cfg`` (ED, ES, Group, Height,
  NbFrame, Weight); labels 1 RV, 2 myocardium, 3 LV. No ``_4d.nii.gz`` is written.

NIfTI arrays use the layout of the real files: data axes (x = column, y = row, z = slice), so a
converter gets (D, H, W) with ``np.asarray(img.dataobj).transpose(2, 1, 0)``; the affine is a
positive diagonal of the voxel spacing (canonical RAS, so ``nib.as_closest_canonical`` is a no-op).
Files are gzipped with mtime 0 so that they are byte-identical across runs.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from dca.utils.io import atomic_path, write_text

#: TransUNet Synapse split (case ids of ``imgXXXX.nii.gz``).
SYNAPSE_TEST = ("0001", "0002", "0003", "0004", "0008", "0022", "0025", "0029", "0032", "0035", "0036", "0038")
SYNAPSE_TRAIN = (
    "0005", "0006", "0007", "0009", "0010", "0021", "0023", "0024", "0026",
    "0027", "0028", "0030", "0031", "0033", "0034", "0037", "0039", "0040",
)  # fmt: skip


def _interleave(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    """Merge two id lists by relative position, so every prefix holds both in proportion."""
    keyed = [((i + 0.5) / len(ids), rank, x) for rank, ids in enumerate((a, b)) for i, x in enumerate(ids)]
    return tuple(x for *_, x in sorted(keyed))


#: Order in which ``multiclass`` picks its case ids: the first ``n`` (n >= 2) hold train and test ids.
SYNAPSE_ORDER = _interleave(SYNAPSE_TRAIN, SYNAPSE_TEST)

DEFAULTS: dict[str, dict[str, int | tuple[int, int]]] = {
    "binary": {"n": 60, "size": (128, 128)},
    "multiclass": {"n": 8, "size": (96, 96), "depth": 12},
    "acdc": {"n": 10, "size": (96, 96), "depth": 8},
}


def synthesize(
    kind: str,
    out: Path,
    n: int | None = None,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    depth: int | None = None,
) -> Path:
    """Write a synthetic dataset of ``kind`` (binary, multiclass, acdc) in its raw layout under ``out``.

    ``n`` cases (patients for acdc) of ``size`` = (H, W) pixels, ``depth`` slices for 3D kinds;
    None takes the kind's default from :data:`DEFAULTS`. Returns ``out``.
    """
    if kind not in DEFAULTS:
        raise ValueError(f"unknown synthetic kind {kind!r}; expected one of {sorted(DEFAULTS)}")
    defaults = DEFAULTS[kind]
    n = int(defaults["n"]) if n is None else n
    h, w = defaults["size"] if size is None else size  # type: ignore[misc]
    if n < 1 or h < 16 or w < 16:
        raise ValueError(f"need n >= 1 and size >= 16x16, got n={n}, size={(h, w)}")
    out = Path(out)
    if kind == "binary":
        _write_binary(out, n, seed, (h, w))
    else:
        d = int(defaults["depth"]) if depth is None else depth  # type: ignore[arg-type]
        if d < 1:
            raise ValueError(f"need depth >= 1, got {d}")
        (_write_synapse if kind == "multiclass" else _write_acdc)(out, n, seed, (d, h, w))
    return out


# ---------------------------------------------------------------- shared helpers


def _rng(seed: int, kind: str, case: int) -> np.random.Generator:
    """Independent generator per (seed, kind, case): changing n leaves earlier cases unchanged."""
    return np.random.default_rng([seed, list(DEFAULTS).index(kind), case])


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float | tuple[float, ...]) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to zero mean, unit standard deviation (a smooth random field)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    field -= field.mean()
    return field / (field.std() + 1e-8)


def _save_jpeg(path: Path, rgb: np.ndarray) -> None:
    """Atomically save an (H, W, 3) uint8 array as a high-quality JPEG (4:4:4, quality 95)."""
    with atomic_path(path) as tmp:
        Image.fromarray(rgb, mode="RGB").save(tmp, format="JPEG", quality=95, subsampling=0)


def _save_nifti(path: Path, volume: np.ndarray, spacing: tuple[float, float, float]) -> None:
    """Atomically save a (D, H, W) array as a reproducible .nii.gz in (x, y, z) layout; spacing is (z, y, x)."""
    import nibabel as nib  # here, not at the top: 2D synthetic data needs no NIfTI writer (GPU nodes lack nibabel)

    data = np.ascontiguousarray(volume.transpose(2, 1, 0))
    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    img = nib.Nifti1Image(data, affine)
    img.header.set_zooms((spacing[2], spacing[1], spacing[0]))
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(img.to_bytes(), compresslevel=6, mtime=0))


def _radial_shape(
    rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, harmonics: int = 3, wobble: float = 0.08
) -> Callable[[float, float, float, float, float], np.ndarray]:
    """Return f(cy, cx, ry, rx, angle) -> normalised radius field of a rotated ellipse with a wavy rim.

    Values < 1 lie inside; the rim wobble (random cosine harmonics) makes blobs look organic.
    """
    amps = rng.uniform(0, wobble, harmonics)
    phases = rng.uniform(0, 2 * np.pi, harmonics)

    def field(cy: float, cx: float, ry: float, rx: float, angle: float) -> np.ndarray:
        dy, dx = yy - cy, xx - cx
        ca, sa = np.cos(angle), np.sin(angle)
        u, v = (dx * ca + dy * sa) / rx, (-dx * sa + dy * ca) / ry
        theta = np.arctan2(v, u)
        rim = 1 + sum(a * np.cos((k + 2) * theta + p) for k, (a, p) in enumerate(zip(amps, phases, strict=True)))
        return np.sqrt(u * u + v * v) / rim

    return field


# ---------------------------------------------------------------- binary (Kvasir-SEG style)


def _binary_case(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """One endoscopy-like RGB image (uint8) and its polyp mask (bool)."""
    s = min(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # mucosa: reddish base, low-frequency colour mottling, fine texture, dark fold/vessel lines
    base = np.array([0.74, 0.40, 0.34]) + rng.normal(0, 0.03, 3)
    mottle = _smooth_noise(rng, (h, w), s / 12)
    fine = _smooth_noise(rng, (h, w), 0.8)
    folds = np.exp(-((_smooth_noise(rng, (h, w), s / 10) / 0.12) ** 2))
    img = base[None, None, :] * (1 + 0.07 * mottle[..., None] + 0.03 * fine[..., None] - 0.25 * folds[..., None])

    # polyps: paler, less red hue, coarser granular texture, dome shading; soft rim
    mask = np.zeros((h, w), bool)
    blend = np.zeros((h, w))
    shade = np.zeros((h, w))
    count = rng.choice([1, 1, 1, 1, 2, 2, 3])
    for _ in range(count):
        shape = _radial_shape(rng, yy, xx, wobble=0.1)
        r = rng.uniform(0.10, 0.26) * s
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        rho = shape(cy, cx, r * rng.uniform(0.75, 1.25), r * rng.uniform(0.75, 1.25), rng.uniform(0, np.pi))
        mask |= rho < 1
        blend = np.maximum(blend, np.clip((1.0 - rho) * r / 1.5 + 0.5, 0, 1))
        shade = np.maximum(shade, np.clip(1 - rho**2, 0, 1))
    contrast = rng.uniform(0.6, 1.1)
    polyp_hue = np.array([-0.02, 0.08, 0.07]) * contrast
    granules = _smooth_noise(rng, (h, w), 1.6)
    polyp = img * (1 + 0.10 * granules[..., None] + 0.12 * shade[..., None]) + polyp_hue[None, None, :]
    img = img + blend[..., None] * (polyp - img)

    # specular highlights (on polyp and mucosa), uneven illumination, vignette with black corners
    for _ in range(rng.integers(2, 6)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.008, 0.025) * s
        img += 0.8 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
    ly, lx = rng.uniform(-0.2, 1.2) * h, rng.uniform(-0.2, 1.2) * w
    spread = rng.uniform(0.45, 0.8) * s
    light = 0.3 + 0.75 * np.exp(-((yy - ly) ** 2 + (xx - lx) ** 2) / (2 * spread**2))
    img = img * light[..., None]
    ny, nx = (yy - (h - 1) / 2) / (h / 2), (xx - (w - 1) / 2) / (w / 2)
    corner = (np.abs(ny) ** 6 + np.abs(nx) ** 6) ** (1 / 6)
    img = img * np.clip((1.1 - corner) / 0.05, 0, 1)[..., None]
    img = img + rng.normal(0, 0.025, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mask


def _write_binary(out: Path, n: int, seed: int, size: tuple[int, int]) -> None:
    """Write ``n`` Kvasir-SEG style cases and kavsir_bboxes.json under ``out``."""
    h, w = size
    boxes: dict[str, dict[str, object]] = {}
    for i in range(n):
        case_id = f"synpolyp{i:04d}"
        rgb, mask = _binary_case(_rng(seed, "binary", i), h, w)
        _save_jpeg(out / "images" / f"{case_id}.jpg", rgb)
        _save_jpeg(out / "masks" / f"{case_id}.jpg", np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2))
        labelled, _ = ndimage.label(mask)
        bbox = [
            {"label": "polyp", "xmin": sx.start, "ymin": sy.start, "xmax": sx.stop, "ymax": sy.stop}
            for sy, sx in ndimage.find_objects(labelled)
        ]
        boxes[case_id] = {"height": h, "width": w, "bbox": bbox}
    write_text(out / "kavsir_bboxes.json", json.dumps(boxes))


# ---------------------------------------------------------------- multiclass (Synapse / BTCV style)

# label: (centre x, y, z), radii (x, y, z), in-plane angle (rad), mean HU, texture HU. x: image
# left (patient right) -1 .. right +1; y: anterior -1 .. posterior +1; z: inferior 0 .. superior 1.
# Painted in this order, later organs overwrite earlier ones.
_ORGANS: dict[int, tuple[tuple[float, float, float], tuple[float, float, float], float, float, float]] = {
    6: ((-0.42, -0.02, 0.78), (0.40, 0.40, 0.42), 0.3, 62.0, 6.0),  # liver
    1: ((0.55, 0.22, 0.74), (0.15, 0.24, 0.28), -0.5, 48.0, 6.0),  # spleen
    7: ((0.30, -0.22, 0.70), (0.24, 0.17, 0.30), 0.4, 22.0, 18.0),  # stomach (fluid + wall)
    2: ((-0.36, 0.36, 0.42), (0.12, 0.17, 0.24), -0.3, 165.0, 12.0),  # right kidney
    3: ((0.38, 0.36, 0.46), (0.12, 0.17, 0.24), 0.3, 165.0, 12.0),  # left kidney
    4: ((-0.30, -0.18, 0.46), (0.08, 0.11, 0.14), 0.2, 8.0, 3.0),  # gallbladder
    11: ((0.10, 0.08, 0.52), (0.32, 0.075, 0.12), -0.25, 42.0, 16.0),  # pancreas (lobulated)
    9: ((-0.12, 0.24, 0.50), (0.065, 0.065, 2.0), 0.0, 135.0, 6.0),  # inferior vena cava (-> background)
    8: ((0.06, 0.26, 0.50), (0.055, 0.055, 2.0), 0.0, 205.0, 6.0),  # aorta
}


def _synapse_case(rng: np.random.Generator, d: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """One abdominal CT-like volume (int16 HU) and its raw BTCV label volume (uint8), both (D, H, W)."""
    zz, yy, xx = np.meshgrid(
        (np.arange(d) + 0.5) / d * 0.7 + 0.25, np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij"
    )
    # smooth per-case deformation of the anatomy, then a global shift/scale
    amp = 0.04
    sig = (max(d / 3, 1), h / 5, w / 5)
    yy = yy + amp * _smooth_noise(rng, (d, h, w), sig) + rng.normal(0, 0.03)
    xx = xx + amp * _smooth_noise(rng, (d, h, w), sig) + rng.normal(0, 0.03)
    zz = zz + rng.normal(0, 0.04)
    scale = rng.uniform(0.92, 1.08)
    yy, xx = yy / scale, xx / scale

    hu = np.full((d, h, w), -1000.0)
    label = np.zeros((d, h, w), np.uint8)
    body = ((xx / 0.88) ** 2 + ((yy - 0.05) / 0.66) ** 2) ** 0.5
    fat = _smooth_noise(rng, (d, h, w), (1, h / 14, w / 14))
    hu[body < 1] = -95.0  # subcutaneous fat
    inner = body < 0.9
    hu[inner] = np.where(fat[inner] > 0.6, -85.0, 38.0)  # muscle / soft tissue with fat pockets
    spine = np.hypot(xx, (yy - 0.52) / 1.1)
    hu[spine < 0.14] = 650.0
    hu[spine < 0.11] = 280.0
    for value, ((cx, cy, cz), (rx, ry, rz), angle, mean, texture) in _ORGANS.items():
        cx, cy, cz = cx + rng.normal(0, 0.03), cy + rng.normal(0, 0.03), cz + rng.normal(0, 0.04)
        rs = rng.uniform(0.85, 1.15, 3)
        ca, sa = np.cos(angle), np.sin(angle)
        dx, dy = xx - cx, yy - cy
        u, v = (dx * ca + dy * sa) / (rx * rs[0]), (-dx * sa + dy * ca) / (ry * rs[1])
        inside = (u * u + v * v + ((zz - cz) / (rz * rs[2])) ** 2) < 1
        tex = _smooth_noise(rng, (d, h, w), (0.7, 1.2, 1.2))
        hu[inside] = mean + rng.normal(0, 8) + texture * tex[inside]
        label[inside] = value
        if value == 7:  # gas pocket in the anterior stomach, still labelled stomach
            gas = inside & (v < -0.55)
            hu[gas] = -850.0
    hu += 14.0 * rng.standard_normal((d, h, w))
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16), label


def _write_synapse(out: Path, n: int, seed: int, shape: tuple[int, int, int]) -> None:
    """Write ``n`` Synapse raw style cases (ids from :data:`SYNAPSE_ORDER`) under ``out``."""
    if not 2 <= n <= len(SYNAPSE_ORDER):
        raise ValueError(f"multiclass needs 2 <= n <= {len(SYNAPSE_ORDER)} (the TransUNet case ids), got {n}")
    d, h, w = shape
    spacing = (3.0, 0.78 * 512 / h, 0.78 * 512 / w)  # keep the real field of view
    for case_id in SYNAPSE_ORDER[:n]:
        image, label = _synapse_case(_rng(seed, "multiclass", int(case_id)), d, h, w)
        _save_nifti(out / "img" / f"img{case_id}.nii.gz", image, spacing)
        _save_nifti(out / "label" / f"label{case_id}.nii.gz", label, spacing)


# ---------------------------------------------------------------- ACDC style (cine MRI)

_ACDC_GROUPS = ("NOR", "MINF", "DCM", "HCM", "RV")


def _acdc_frame(
    rng: np.random.Generator, anatomy: dict[str, float], d: int, h: int, w: int, systole: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One short-axis cine MRI-like volume (int16) and labels (1 RV, 2 myocardium, 3 LV), both (D, H, W)."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    image = np.zeros((d, h, w))
    label = np.zeros((d, h, w), np.uint8)
    squeeze = 0.72 if systole else 1.0
    cy, cx = anatomy["cy"], anatomy["cx"]
    for k in range(d):
        t = k / max(d - 1, 1)  # 0 = base, 1 = apex
        taper = 1.0 - 0.55 * t**1.5
        shape = _radial_shape(rng, yy, xx, wobble=0.05)
        r_lv = anatomy["r_lv"] * taper * squeeze
        wall = anatomy["wall"] * (1.3 if systole else 1.0) * (0.8 + 0.2 * taper)
        lv = shape(cy, cx, r_lv, r_lv * 1.05, 0.0)
        epi = shape(cy, cx, r_lv + wall, (r_lv + wall) * 1.05, 0.0)
        # body, lungs, background tissue
        slice_img = np.where((xx / 0.9) ** 2 + (yy / 0.75) ** 2 < 1, 160.0, 8.0)
        for side in (-1, 1):
            lung = ((xx - side * 0.5) / 0.3) ** 2 + ((yy + 0.05) / 0.45) ** 2 < 1
            slice_img[lung & (np.abs(xx - cx) > 0.3)] = 25.0
        # RV crescent: an ellipse beside the LV (image left, anterior) minus the epicardium; absent at the apex
        if t < 0.8:
            r_rv = anatomy["r_rv"] * taper * (0.78 if systole else 1.0)
            rv_field = shape(cy - 0.1, cx - anatomy["rv_offset"] * taper, r_rv * 0.8, r_rv * 1.1, 0.5)
            rv = (rv_field < 1) & (epi >= 1.08)
            slice_img[rv] = 420.0
            label[k][rv] = 1
        myo, blood = (epi < 1) & (lv >= 1), lv < 1
        slice_img[myo] = 115.0
        slice_img[blood] = 430.0
        label[k][myo] = 2
        label[k][blood] = 3
        for _ in range(2):  # papillary muscles: dark spots inside the LV cavity, labelled LV
            py, px = cy + rng.uniform(-0.5, 0.5) * r_lv, cx + rng.uniform(-0.5, 0.5) * r_lv
            slice_img[blood & ((yy - py) ** 2 + (xx - px) ** 2 < (0.18 * r_lv) ** 2)] = 140.0
        image[k] = slice_img
    # coil bias field, blur (partial volume), Rician noise
    bias = np.exp(0.25 * _smooth_noise(rng, (d, h, w), (d, h / 3, w / 3)))
    image = ndimage.gaussian_filter(image, (0, 0.7, 0.7)) * bias * anatomy["gain"]
    noise = 18.0
    image = np.hypot(image + noise * rng.standard_normal(image.shape), noise * rng.standard_normal(image.shape))
    return np.clip(np.rint(image), 0, 32767).astype(np.int16), label


def _write_acdc(out: Path, n: int, seed: int, shape: tuple[int, int, int]) -> None:
    """Write ``n`` ACDC style patients (ED frame 01 and an ES frame, with Info.cfg) under ``out/training``."""
    d, h, w = shape
    spacing = (10.0, 1.5 * 216 / h, 1.5 * 216 / w)
    for p in range(1, n + 1):
        rng = _rng(seed, "acdc", p)
        anatomy = {
            "cy": rng.uniform(-0.12, 0.12),
            "cx": rng.uniform(-0.05, 0.2),
            "r_lv": rng.uniform(0.2, 0.28),
            "wall": rng.uniform(0.07, 0.1),
            "r_rv": rng.uniform(0.26, 0.34),
            "rv_offset": rng.uniform(0.36, 0.46),
            "gain": rng.uniform(0.7, 1.6),
        }
        es = int(rng.integers(9, 16))
        name = f"patient{p:03d}"
        folder = out / "training" / name
        for frame, systole in ((1, False), (es, True)):
            image, label = _acdc_frame(rng, anatomy, d, h, w, systole)
            _save_nifti(folder / f"{name}_frame{frame:02d}.nii.gz", image, spacing)
            _save_nifti(folder / f"{name}_frame{frame:02d}_gt.nii.gz", label, spacing)
        info = {
            "ED": 1,
            "ES": es,
            "Group": _ACDC_GROUPS[(p - 1) % len(_ACDC_GROUPS)],
            "Height": round(float(rng.uniform(150, 195)), 1),
            "NbFrame": 30,
            "Weight": round(float(rng.uniform(50, 110)), 1),
        }
        write_text(folder / "Info.cfg", "".join(f"{k}: {v}\n" for k, v in info.items()))
