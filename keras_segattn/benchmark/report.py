"""The benchmark report as Markdown tables (the README's Performance section)."""

from __future__ import annotations


def _x(value):
    return "-" if value is None else f"{value:.2f}x"


def _ms(seconds):
    return "-" if seconds is None else (f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s")


def _profile(rows):
    return ", ".join(f"{r['op']} {100 * r['share']:.0f}%" for r in rows[:4])


def _efficiency(eff):
    return "" if not eff else f"{100 * eff['keras']:.0f}% / {100 * eff['keras_xla']:.0f}%"


def _peak(row):
    return "-" if not row else f"{row['added_mb']:.0f} MB"


def to_markdown(report) -> str:
    m = report["machine"]
    lines = [
        f"Machine: {m['processor']}, {m['logical_cpus']} logical CPUs, {m['threads']} threads for every "
        f"framework; Python {m['python']}, TensorFlow {m['tensorflow']}, Keras {m['keras']}, "
        f"PyTorch {m['torch'] or 'not installed'} (CPU). Speedup = PyTorch's time / ours "
        "(above 1: ours faster), each pair timed interleaved in one run.",
        "",
    ]
    hw = report.get("hardware")
    if hw:
        rates = ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in hw["flop_per_s"].items())
        lines += [f"Dense float32 matmul {hw['matmul_size']}²: {rates}.", ""]
    if report.get("ops"):
        lines += [
            "| op | size | pass | Keras | Keras + XLA | PyTorch | speedup (Keras) | speedup (XLA) | max diff | where Keras' time goes |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in report["ops"]:
            s, sp = r["seconds"], r.get("speedup", {})
            diff = r.get("max_abs_difference_vs_torch")
            lines.append(
                f"| {r['op']} | {'x'.join(map(str, r['size']))} | {r['direction'].replace('_', '+')} | "
                f"{_ms(s['keras'])} | {_ms(s['keras_xla'])} | {_ms(s.get('torch'))} | {_x(sp.get('keras'))} | "
                f"{_x(sp.get('keras_xla'))} | {'-' if diff is None else f'{diff:.1e}'} | "
                f"{_profile(r['profile']) if r.get('profile') else ''} |"
            )
        lines.append("")
    if report.get("models"):
        lines += [
            "| model | input | GFLOP | pass (batch) | Keras | Keras + XLA | PyTorch | speedup (Keras) | speedup (XLA) | FLOP efficiency (Keras / XLA) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in report["models"]:
            for key, label in (("inference", "inference"), ("training_step", "train step")):
                t = r[key]
                s, sp = t["seconds"], t.get("speedup", {})
                eff = r.get("flop_efficiency") if key == "inference" else None
                lines.append(
                    f"| {r['model']} | {r['input'][0]}x{r['input'][1]} | {r['forward_gflop']:.1f} | "
                    f"{label} ({t['batch']}) | {_ms(s['keras'])} | {_ms(s['keras_xla'])} | {_ms(s.get('torch'))} | "
                    f"{_x(sp.get('keras'))} | {_x(sp.get('keras_xla'))} | "
                    f"{_efficiency(eff)} |"
                )
        lines.append("")
    d = report.get("deployment")
    if d:
        lines += [
            f"Deployment, `{d['model']}` ({d['input'][0]}x{d['input'][1]}, batch 1, {d['threads']} threads):",
            "",
            "| runtime | latency |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v:.2f} ms |" for k, v in d["latency_ms"].items()]
        lines += [f"| {k} | not measured: {v} |" for k, v in d["notes"].items()]
        if "int8_over_fp32" in d:
            lines += ["", f"TFLite int8 / fp32 latency: {d['int8_over_fp32']:.2f}."]
        lines.append("")
    if report.get("memory"):
        lines += [
            "Memory the model and three steps add to a fresh process (peak resident set minus the set after "
            "the imports):",
            "",
            "| model | mode | Keras | PyTorch |",
            "|---|---|---|---|",
        ]
        for r in report["memory"]:
            torch = r.get("torch")
            lines.append(
                f"| {r['model']} | {r['mode']} | {r['keras']['added_mb']:.0f} MB | "
                f"{_peak(torch)} |"
            )
        lines.append("")
    return "\n".join(lines)
