"""bench/mingru.py measures minGRU against the GRU (issue 22's candidate); its figures are only as good
as its scan, so the scan's values and gradients are checked here against autograd's own record of the
plain loop."""

from __future__ import annotations

import torch

from bench.mingru import LinearScan, MinGRUModel


def plain_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    h, out = h0, []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        out.append(h)
    return torch.stack(out)


def test_the_scan_gives_the_loops_values_and_gradients():
    torch.manual_seed(0)
    a = torch.rand(7, 3, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(7, 3, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(7, 3, 5, dtype=torch.float64)
    ours = LinearScan.apply(a, b, h0)
    reference = plain_scan(a, b, h0)
    torch.testing.assert_close(ours, reference)  # addcmul is one fused multiply-add: not the same bits
    grads = torch.autograd.grad((ours * weights).sum(), (a, b, h0))
    expected = torch.autograd.grad((reference * weights).sum(), (a, b, h0))
    for g, e in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, e)
    assert torch.autograd.gradcheck(LinearScan.apply, (a, b, h0))


def test_a_window_split_in_two_with_the_state_carried_is_the_whole_window():
    torch.manual_seed(0)
    for residual in (False, True):
        model = MinGRUModel(11, 16, [16, 16], residual, ff=2)
        ids = torch.randint(0, 11, (2, 9))
        whole, _ = model(ids)
        first, state = model(ids[:, :4])
        second, _ = model(ids[:, 4:], state)
        torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
