"""A GRU layer's training pass over a whole window, with back-propagation through time written out.

Why: nn.GRU on a CPU runs its backward through autograd's record of every time step, so each step
computes its own weight gradients (two extra matrix products a step, 100 of them a window) and
dozens of small element-wise kernels, each allocating fresh memory. Here the forward saves the gates,
the backward walks the window once with a single matrix product a step (the gradient reaching the
previous state), and the weight gradients are two large products over the whole window at the end.

Matrix products run in `matmul_dtype` (bfloat16 where the CPU does bf16 natively: about 2.5x the
float32 rate on AVX512-BF16 or AMX cores), with float32 master weights, state, gate arithmetic and
gradient accumulation. With float32 it is nn.GRU's own maths, equal to within float rounding (1e-15
relative in float64: tests/test_window_gru.py).

Equations and gate order (r, z, n) are nn.GRU's:
    r = sigmoid(x W_ir + b_ir + h W_hr + b_hr)
    z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
    n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
    h' = (1 - z) * n + z * h
Time-major: x [time, batch, input], h0 [batch, hidden].
"""

from __future__ import annotations

from typing import Any

import torch


class WindowGRU(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        h0: torch.Tensor,
        w_ih: torch.Tensor,
        w_hh: torch.Tensor,
        b_ih: torch.Tensor,
        b_hh: torch.Tensor,
        matmul_dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(x.device.type, enabled=False):  # the precision here is matmul_dtype's, not autocast's
            steps, batch, _ = x.shape
            hidden = w_hh.shape[1]
            dtype = torch.promote_types(w_hh.dtype, torch.float32)
            md = matmul_dtype
            # b_hr, b_hz join the input side (they add as the input's do); b_hn stays inside r * (...)
            bias_in = b_ih.detach().clone()
            bias_in[: 2 * hidden] += b_hh[: 2 * hidden]
            bias_rec = torch.zeros_like(b_hh)
            bias_rec[2 * hidden :] = b_hh[2 * hidden :]
            w_ih_m, w_hh_m = w_ih.to(md), w_hh.to(md)
            x_m = x.reshape(steps * batch, -1).to(md)
            # every step's input projection as one product
            gi = torch.addmm(bias_in.to(md), x_m, w_ih_m.t()).view(steps, batch, 3, hidden)
            bias_rec_m, w_hh_t = bias_rec.to(md), w_hh_m.t()
            hs = x.new_empty(steps + 1, batch, hidden, dtype=dtype)  # hs[0] = h0, hs[t + 1] = output t
            hs_m = x.new_empty(steps + 1, batch, hidden, dtype=md)  # the same in matmul_dtype
            gh_all = x.new_empty(steps, batch, 3, hidden, dtype=md)  # h W_h + (0, 0, b_hn)
            rz_all = x.new_empty(steps, batch, 2, hidden, dtype=dtype)
            n_all = x.new_empty(steps, batch, hidden, dtype=dtype)
            hs[0] = h0
            hs_m[0] = h0
            h = hs[0]
            for t in range(steps):
                gh = torch.addmm(bias_rec_m, hs_m[t], w_hh_t, out=gh_all[t].view(batch, 3 * hidden)).view(
                    batch, 3, hidden
                )
                g = gi[t]
                rz = torch.add(g[:, :2], gh[:, :2], out=rz_all[t]).sigmoid_()
                n = torch.addcmul(g[:, 2], rz[:, 0], gh[:, 2], out=n_all[t]).tanh_()
                h = torch.lerp(n, h, rz[:, 1], out=hs[t + 1])  # n + z * (h - n)
                hs_m[t + 1].copy_(h)
            ctx.matmul_dtype = md
            ctx.x_shape = x.shape
            ctx.x_dtype = x.dtype
            ctx.save_for_backward(x_m, w_ih_m, w_hh_m, hs, hs_m, gh_all, rz_all, n_all)
            return hs[1:], h.clone()

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor | None, d_last: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        with torch.autocast(d_last.device.type if d_last is not None else "cpu", enabled=False):
            x_m, w_ih_m, w_hh_m, hs, hs_m, gh_all, rz_all, n_all = ctx.saved_tensors
            md = ctx.matmul_dtype
            steps_1, batch, hidden = hs.shape
            steps = steps_1 - 1
            r, z, n = rz_all[:, :, 0], rz_all[:, :, 1], n_all
            # Every step's local derivatives at once, in a few large element-wise passes:
            # zn = (dz_pre/dh', dn_pre/dh'), rg = (dr_pre/dn_pre, d(h W_hn + b_hn)/dn_pre).
            # (x - x * x is x (1 - x) in one pass; fewer passes and temporaries than the plain products)
            zn = hs.new_empty(steps, batch, 2, hidden, dtype=md)
            torch.mul(hs[:-1] - n, torch.addcmul(z, z, z, value=-1), out=zn[:, :, 0])
            tanh_slope = torch.addcmul(hs.new_ones(()), n, n, value=-1)  # 1 - n^2
            torch.addcmul(tanh_slope, z, tanh_slope, value=-1, out=zn[:, :, 1])  # (1 - z)(1 - n^2)
            rg = hs.new_empty(steps, batch, 2, hidden, dtype=md)
            torch.mul(gh_all[:, :, 2], torch.addcmul(r, r, r, value=-1), out=rg[:, :, 0])
            rg[:, :, 1] = r
            z_m = z.to(md)
            # per step: d r_pre, d z_pre, d (h W_hn + b_hn), d n_pre; the first three are the
            # recurrent product's gradient, (d r_pre, d z_pre, d n_pre) the input product's
            grads = hs.new_empty(steps, batch, 4, hidden, dtype=md)
            dh = d_last.to(hs.dtype).clone() if d_last is not None else hs.new_zeros(batch, hidden)
            for t in range(steps - 1, -1, -1):
                if d_out is not None:
                    dh += d_out[t]
                g = grads[t]
                torch.mul(dh[:, None], zn[t], out=g[:, 1::2])  # d z_pre, d n_pre
                torch.mul(g[:, 3:4], rg[t], out=g[:, 0:3:2])  # d r_pre, d (h W_hn + b_hn)
                dh = torch.addcmul(torch.mm(g[:, :3].reshape(batch, 3 * hidden), w_hh_m), dh, z_m[t])
            d_rec = grads[:, :, :3].reshape(steps * batch, 3 * hidden)
            d_rz = d_rec[:, : 2 * hidden]
            d_n = grads[:, :, 3].reshape(steps * batch, hidden)
            dtype = hs.dtype
            d_w_hh = (d_rec.t() @ hs_m[:-1].reshape(steps * batch, hidden)).to(dtype)
            d_w_ih = torch.cat([d_rz.t() @ x_m, d_n.t() @ x_m]).to(dtype)
            d_x = None
            if ctx.needs_input_grad[0]:
                d_x = torch.addmm(d_rz @ w_ih_m[: 2 * hidden], d_n, w_ih_m[2 * hidden :])
                d_x = d_x.to(ctx.x_dtype).view(ctx.x_shape)
            # summed in matmul_dtype with float32 accumulation (as the products are): a dtype= argument
            # would first copy the whole window's gradients to float32
            d_b_hh = d_rec.sum(0).to(dtype)
            d_b_ih = torch.cat([d_b_hh[: 2 * hidden], d_n.sum(0).to(dtype)])
            return d_x, dh, d_w_ih, d_w_hh, d_b_ih, d_b_hh, None


def window_gru(
    x: torch.Tensor, h0: torch.Tensor, weights: tuple[torch.Tensor, ...], matmul_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """x [time, batch, input], h0 [batch, hidden], weights (w_ih, w_hh, b_ih, b_hh) as nn.GRU holds
    them -> every step's output [time, batch, hidden] and the last state [batch, hidden]."""
    out, last = WindowGRU.apply(x, h0, *weights, matmul_dtype)
    return out, last
