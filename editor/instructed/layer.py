"""The InstructEd attention, registered with transformers' AttentionInterface as "instructed".

For a band layer with prefix vectors P (n x hidden), the prefix keys and values come from the
layer's own frozen projections, K_p = W_k P and V_p = W_v P, without rotary position (as in the
official InstructEd code). Every query attends over [prefix; tokens].

Relevance re-weighting. With r in [0, 1] the relevance weight of the example (a ramp of
cos(Enc(question), Enc(instruction)) times the entity test, see `editor.instructed.relevance`), query
row i that does not itself belong to the instruction gets, in every layer,

    a_ij = exp(s_ij + b_j) / sum_j' exp(s_ij' + b_j'),   b_j = log r  if j is an instruction token
                                                                      or (in the band) a prefix slot,
                                                          b_j = 0     otherwise

i.e. the post-softmax weights on the instruction and prefix are multiplied by r and the row is
renormalised. This is a true weight on how much the question reads the instruction (r = 1 leaves
attention unchanged; r -> 0 mutes the instruction). It acts in all layers, not just the band: an
instruction muted only in the band would still be read by the layers around it. The official
code instead multiplies the pre-softmax scores of some rows by r, which only changes the softmax
temperature and can even sharpen attention on an irrelevant instruction. Instruction rows keep
their attention so the facts are encoded the same whatever the question. The rotary positions that
go with r (`editor.instructed.editor.token_positions`) let the instruction take up only r of its
length, so at r = 0 the question rows compute exactly what they compute without an instruction.

Prefixes and re-weighting act only in forward calls that pass `use_prefixes=True` (re-weighting
also needs `relevance`); other calls go to transformers' own SDPA attention with the same
arguments, so one loaded model serves as both the edited and the bit-for-bit unedited model,
without shared on/off state.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

ATTENTION_NAME = "instructed"
MIN_WEIGHT = 1e-30  # r = 0 becomes a finite log(r) bias that still mutes completely


class PrefixState(torch.nn.Module):
    """The trainable part a band layer carries: its prefix vectors."""

    def __init__(self, n_prefix: int, hidden_size: int, init_std: float):
        super().__init__()
        self.prefix = torch.nn.Parameter(torch.randn(n_prefix, hidden_size) * init_std)


def _prefix_keys_values(module: torch.nn.Module, state: PrefixState, batch: int):
    """Prefix keys/values through the layer's frozen projections, (B, kv_heads, n, head_dim), no rotary."""
    n_prefix, head_dim = state.prefix.shape[0], module.head_dim
    prefix = state.prefix.to(module.k_proj.weight.dtype)
    keys = module.k_proj(prefix).view(n_prefix, -1, head_dim).transpose(0, 1).unsqueeze(0)
    values = module.v_proj(prefix).view(n_prefix, -1, head_dim).transpose(0, 1).unsqueeze(0)
    return keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1)


def _additive_token_mask(attention_mask, query, key) -> torch.Tensor:
    """(B or 1, 1, Q, K) float mask from transformers' boolean SDPA mask (None means plain causal)."""
    q_len, k_len = query.shape[2], key.shape[2]
    if attention_mask is None:
        rows = torch.arange(q_len, device=query.device)[:, None] + (k_len - q_len)
        allowed = (rows >= torch.arange(k_len, device=query.device)[None, :]).view(1, 1, q_len, k_len)
    else:
        allowed = attention_mask if attention_mask.dtype == torch.bool else attention_mask == 0
    zero = torch.zeros((), dtype=query.dtype, device=query.device)
    return torch.where(allowed, zero, torch.finfo(query.dtype).min)


def _relevance_bias(instruction_mask, relevance, query, k_len, n_prefix):
    """log r on (prefix + instruction) columns for the non-instruction query rows; (B, 1, Q, n+K)."""
    batch, q_len = query.shape[0], query.shape[2]
    keys_in_instruction = torch.zeros(batch, k_len, dtype=torch.bool, device=query.device)
    width = min(instruction_mask.shape[1], k_len)
    keys_in_instruction[:, :width] = instruction_mask[:, :width]
    rows_in_instruction = keys_in_instruction[:, k_len - q_len :]
    log_r = torch.log(relevance.to(query.dtype).clamp(min=MIN_WEIGHT, max=1.0)).view(batch, 1, 1)
    columns = torch.cat(
        [torch.ones(batch, n_prefix, dtype=torch.bool, device=query.device), keys_in_instruction], dim=1
    )
    reads = ~rows_in_instruction
    bias = (reads[:, :, None] & columns[:, None, :]).to(query.dtype) * log_r
    return bias.unsqueeze(1)


def instructed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    instruction_mask: torch.Tensor | None = None,
    relevance: torch.Tensor | None = None,
    use_prefixes: bool = False,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    state: PrefixState | None = getattr(module, "instructed", None)
    reweight = use_prefixes and relevance is not None and instruction_mask is not None
    if not use_prefixes or (state is None and not reweight):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    batch = query.shape[0]
    n_prefix = 0 if state is None else state.prefix.shape[0]
    scaling = scaling if scaling is not None else 1 / math.sqrt(query.shape[-1])
    groups = module.num_key_value_groups
    token_mask = _additive_token_mask(attention_mask, query, key)
    token_mask = token_mask.expand(batch, 1, query.shape[2], key.shape[2])
    bias = _relevance_bias(instruction_mask, relevance, query, key.shape[2], n_prefix) if reweight else None
    if state is None:  # a layer outside the band: only the re-weighting applies
        output = F.scaled_dot_product_attention(
            query,
            repeat_kv(key, groups),
            repeat_kv(value, groups),
            attn_mask=token_mask if bias is None else token_mask + bias,
            scale=scaling,
        )
    else:
        prefix_keys, prefix_values = _prefix_keys_values(module, state, batch)
        prefix_mask = torch.zeros(batch, 1, query.shape[2], n_prefix, dtype=query.dtype, device=query.device)
        mask = torch.cat([prefix_mask, token_mask], dim=-1)
        if bias is not None:
            mask = mask + bias
        all_keys = repeat_kv(torch.cat([prefix_keys, key], dim=2), groups)
        all_values = repeat_kv(torch.cat([prefix_values, value], dim=2), groups)
        output = F.scaled_dot_product_attention(query, all_keys, all_values, attn_mask=mask, scale=scaling)
    return output.transpose(1, 2).contiguous(), None


def register_instructed_attention() -> None:
    """Idempotent: make "instructed" a valid `attn_implementation` with SDPA's mask function."""
    AttentionInterface.register(ATTENTION_NAME, instructed_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
