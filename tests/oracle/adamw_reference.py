#!/usr/bin/python3
"""Reference numbers for tests/test_optimizer.cpp ("AdamW matches torch").

Regenerate (needs torch; the C++ tests do not):
    /usr/bin/python3 tests/oracle/adamw_reference.py > /tmp/adamw.txt
and paste the printed C++ arrays into tests/test_optimizer.cpp.

Runs 6 updates of DNABERT's training-loop order
    clip_grad_norm_(params, 1.0); optimizer.step(); scheduler.step()
on a toy parameter set laid out like a ParamSet (flat, in declaration order),
in float32, for two optimisers:
  * torch.optim.AdamW (torch's decoupled decay), and
  * HF transformers.AdamW with correct_bias=True (what DNABERT ran), written
    out below from transformers/optimization.py since transformers is absent.
Both use HF's get_linear_schedule_with_warmup lambda through torch's LambdaLR,
and HF's no_decay = ["bias", "LayerNorm.weight"] grouping. Hyperparameters are
exaggerated (lr 0.05, eps 1e-3, weight decay 0.3) so that eps placement and
decay order change the result visibly. Initial values and gradients are
closed-form (float32 of a libm sin/cos) so the C++ test rebuilds them exactly.
"""
import math

import torch

PARAMS = [("enc.dense.weight", (3, 4)), ("enc.dense.bias", (3,)), ("enc.LayerNorm.weight", (4,)),
          ("enc.LayerNorm.bias", (4,)), ("head.weight", (5,))]
LR, BETAS, EPS, WD, WARMUP, TOTAL, MAX_NORM = 0.05, (0.9, 0.98), 1e-3, 0.3, 2, 6, 1.0
GRAD_SCALES = [0.05, 0.6, 0.02, 0.4, 0.1, 0.8]  # steps 1, 3 and 5 clip


def linear_schedule(step):  # transformers.get_linear_schedule_with_warmup's lr_lambda
    if step < WARMUP:
        return float(step) / float(max(1, WARMUP))
    return max(0.0, float(TOTAL - step) / float(max(1, TOTAL - WARMUP)))


class HFAdamW(torch.optim.Optimizer):
    """transformers.optimization.AdamW (v2.x-4.x), correct_bias=True."""

    def __init__(self, params, lr, betas, eps, weight_decay):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                beta1, beta2 = group["betas"]
                state["step"] += 1
                exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])
                step_size = group["lr"]
                bias_correction1 = 1.0 - beta1 ** state["step"]
                bias_correction2 = 1.0 - beta2 ** state["step"]
                step_size = step_size * math.sqrt(bias_correction2) / bias_correction1
                p.addcdiv_(exp_avg, denom, value=-step_size)
                if group["weight_decay"] > 0.0:
                    p.add_(p, alpha=(-group["lr"] * group["weight_decay"]))


def run(make_optimizer):
    total = sum(math.prod(s) for _, s in PARAMS)
    flat0 = [float(torch.tensor(0.5 * math.cos(0.7 * i + 0.1), dtype=torch.float32)) for i in range(total)]
    params, at = [], 0
    for name, shape in PARAMS:
        n = math.prod(shape)
        params.append((name, torch.tensor(flat0[at:at + n], dtype=torch.float32).reshape(shape).requires_grad_()))
        at += n
    no_decay = ["bias", "LayerNorm.weight"]
    groups = [
        {"params": [p for n, p in params if not any(nd in n for nd in no_decay)], "weight_decay": WD},
        {"params": [p for n, p in params if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
    ]
    opt = make_optimizer(groups)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_schedule)
    history, norms = [], []
    for step, scale in enumerate(GRAD_SCALES):
        at = 0
        for _, p in params:
            n = p.numel()
            g = [scale * math.sin(0.37 * i + 1.3 * step + 0.2) for i in range(at, at + n)]
            p.grad = torch.tensor(g, dtype=torch.float32).reshape(p.shape)
            at += n
        norms.append(float(torch.nn.utils.clip_grad_norm_([p for _, p in params], MAX_NORM)))
        opt.step()
        sched.step()
        history.append(torch.cat([p.detach().reshape(-1) for _, p in params]).tolist())
    return history, norms


def emit(name, history):
    print(f"const std::vector<std::vector<float>> {name} = {{")
    for row in history:
        print("    {" + ", ".join(f"{x:.9g}f" for x in row) + "},")
    print("};")


if __name__ == "__main__":
    print(f"// torch {torch.__version__}: /usr/bin/python3 tests/oracle/adamw_reference.py")
    torch_hist, norms = run(lambda g: torch.optim.AdamW(g, lr=LR, betas=BETAS, eps=EPS))
    hf_hist, hf_norms = run(lambda g: HFAdamW(g, lr=LR, betas=BETAS, eps=EPS, weight_decay=WD))
    assert norms == hf_norms
    print("const std::vector<double> kTorchGradNorms = {" + ", ".join(f"{x:.9g}" for x in norms) + "};")
    emit("kTorchAdamW", torch_hist)
    emit("kHfAdamW", hf_hist)
