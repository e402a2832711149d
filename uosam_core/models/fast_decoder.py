"""SAM v1's mask decoder (segment-anything ``MaskDecoder`` + ``TwoWayTransformer``), rewritten for CPU.

Same maths as the reference decoder, in another order (docs/decisions/0011-cpu-speed.md):

- the image embedding is never repeated per prompt: without mask inputs every prompt starts from
  the same keys, so the first block's image-side projections (token-to-image K and V, image-to-token Q)
  are computed once per image and cached;
- an attention whose image side is per prompt is folded through its 256 -> 128 projections
  (``softmax(q Wk (k)^T)`` and ``softmax(...) (v Wv)``): the 4096-token side meets the few prompt
  tokens in the 256-d space, which halves the multiply-adds of the two-way transformer;
- the two 2x2 / stride-2 transposed convolutions of the upscaling are one matmul each on
  channels-last pixels, one prompt at a time so its features stay in cache, and the hypernetwork
  product is done before the pixels are put back in row order (one copy of the final logits only);
- softmaxes over the few prompt tokens keep the 4096 image tokens innermost, and the last attention
  runs only for the tokens that are read (docs/decisions/0018-cpu-allocator-and-decoder-passes.md).

Masks agree with the reference to float32 rounding (tests/test_speed_decoder.py); bias terms that
cancel in a softmax are dropped. Families whose decoder differs (HQ-SAM) keep the reference path.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

_IMAGE_TOKENS_SIDE = 64
STATES_KEPT = 2  # images whose shared keys are kept (~10 MB each)
NOT_DECODED = -100.0  # the low-res logit of a mask left undecoded (see FusedSamDecoder.__call__'s min_score)
UPSCALE_TOKEN_ROWS = 16  # rows of the 64 x 64 token grid upscaled at a time (1024 tokens: ~1 MB of features)


def supports(mask_decoder: nn.Module) -> bool:
    """Whether ``mask_decoder`` is segment-anything's plain MaskDecoder (SAM v1 / MobileSAM)."""
    try:
        from segment_anything.modeling import MaskDecoder, TwoWayTransformer
    except ImportError:  # pragma: no cover - the package is a dependency
        return False
    transformer = getattr(mask_decoder, "transformer", None)
    return (type(mask_decoder) is MaskDecoder and type(transformer) is TwoWayTransformer
            and transformer.depth == 2 and mask_decoder.num_mask_tokens == 4)


def _gelu_(x: torch.Tensor) -> torch.Tensor:
    """Exact (erf) GELU in place: the same values as ``F.gelu``, without a new output tensor."""
    return torch.ops.aten.gelu_(x)


def _heads(attention: nn.Module) -> tuple[int, int, float]:
    heads = attention.num_heads
    head_dim = attention.internal_dim // heads
    return heads, head_dim, head_dim ** -0.5


def _token_to_image_shared(attention: nn.Module, queries: torch.Tensor, keys_hds: torch.Tensor,
                           values_hsd: torch.Tensor) -> torch.Tensor:
    """Prompt tokens (N x T x C) attend to one image's projected keys (H x d x S) and values (H x S x d)."""
    count, tokens, _ = queries.shape
    heads, head_dim, scale = _heads(attention)
    q = F.linear(queries, attention.q_proj.weight * scale, attention.q_proj.bias * scale)
    q = q.view(count * tokens, heads, head_dim).transpose(0, 1)  # H x NT x d
    attn = torch.softmax(torch.bmm(q, keys_hds), dim=-1)  # H x NT x S
    out = torch.bmm(attn, values_hsd)  # H x NT x d
    out = out.transpose(0, 1).reshape(count, tokens, heads * head_dim)
    return attention.out_proj(out)


def _token_to_image_folded(attention: nn.Module, queries: torch.Tensor, keys: torch.Tensor,
                           keys_in: torch.Tensor) -> torch.Tensor:
    """Prompt tokens (N x T x C) attend to per-prompt image tokens (values from ``keys`` N x S x C, logits
    from ``keys_in`` N x S x C: the keys plus their positions), the projections folded into the prompt side."""
    count, tokens, channels = queries.shape
    heads, head_dim, scale = _heads(attention)
    q = F.linear(queries, attention.q_proj.weight * scale, attention.q_proj.bias * scale)
    k_weight = attention.k_proj.weight.view(heads, head_dim, channels)
    # q . (Wk x + bk) = (q Wk) . x + q . bk; the second term is the same for every key and cancels
    query_in = torch.einsum("nthd,hdc->nhtc", q.view(count, tokens, heads, head_dim), k_weight)
    query_in = query_in.reshape(count, heads * tokens, channels)
    attn = torch.softmax(torch.bmm(query_in, keys_in.transpose(1, 2)), dim=-1)  # N x HT x S
    mixed = torch.bmm(attn, keys).view(count, heads, tokens, channels)  # rows of attn sum to 1
    v_weight = attention.v_proj.weight.view(heads, head_dim, channels)
    out = torch.einsum("nhtc,hdc->nthd", mixed, v_weight) + attention.v_proj.bias.view(heads, head_dim)
    return attention.out_proj(out.reshape(count, tokens, heads * head_dim))


def _image_to_token(attention: nn.Module, keys: torch.Tensor, keys_in: torch.Tensor | None,
                    shared_q_hds: torch.Tensor | None, token_keys: torch.Tensor,
                    token_values: torch.Tensor) -> torch.Tensor:
    """Image tokens attend to the prompt tokens; returns ``keys`` plus their update, N x S x C.

    keys: N x S x C per-prompt image tokens (positions S x C added on the query side), or the S x C
    tokens every prompt shares, with ``shared_q_hds`` their projected queries H x d x S. The output
    projection is folded into the values, so the per-prompt product is S x HT times HT x C. Logits are
    laid out N x H x T x S: the softmax runs over the few prompt tokens with the 4096 image tokens
    innermost, which vectorises (a softmax over a last dimension of ~7 is ~20x slower on CPU).
    """
    count, tokens, channels = token_keys.shape
    heads, head_dim, scale = _heads(attention)
    k = attention.k_proj(token_keys).view(count, tokens, heads, head_dim) * scale
    v = attention.v_proj(token_values).view(count, tokens, heads, head_dim)
    out_weight = attention.out_proj.weight.view(channels, heads, head_dim)
    values = torch.einsum("nthd,chd->nhtc", v, out_weight).reshape(count, heads * tokens, channels)
    values = values + attention.out_proj.bias / heads  # each head's attention row sums to 1
    if shared_q_hds is not None:
        size = shared_q_hds.shape[2]
        k_heads = k.permute(2, 0, 1, 3).reshape(heads, count * tokens, head_dim)
        logits = torch.bmm(k_heads, shared_q_hds)  # H x NT x S
        attn = torch.softmax(logits.view(heads, count, tokens, size), dim=2)
        attn = attn.transpose(0, 1).reshape(count, heads * tokens, size)
    else:
        size = keys.shape[1]
        q_weight = attention.q_proj.weight.view(heads, head_dim, channels)
        keys_out = torch.einsum("nthd,hdc->nhtc", k, q_weight).reshape(count, heads * tokens, channels)
        offset = torch.einsum("nthd,hd->nht", k, attention.q_proj.bias.view(heads, head_dim))
        logits = torch.baddbmm(offset.reshape(count, heads * tokens, 1), keys_out, keys_in.transpose(1, 2))
        attn = torch.softmax(logits.view(count, heads, tokens, size), dim=2).view(count, heads * tokens, size)
    return torch.baddbmm(keys, attn.transpose(1, 2), values)


class _ImageState:
    """What every prompt of one image shares (no mask inputs): keys S x C and block 0's projections."""

    def __init__(self, decoder: FusedSamDecoder, image_embed: torch.Tensor) -> None:
        block = decoder.transformer.layers[0]
        positions = decoder.positions(image_embed)
        self.image_embed = image_embed
        self.keys = (image_embed[0].flatten(1).t() + decoder.no_mask).contiguous()  # S x C
        keys_in = self.keys + positions
        t2i, i2t = block.cross_attn_token_to_image, block.cross_attn_image_to_token
        heads, head_dim, _ = _heads(t2i)
        size = self.keys.shape[0]
        self.t2i_keys = t2i.k_proj(keys_in).view(size, heads, head_dim).permute(1, 2, 0).contiguous()  # H x d x S
        self.t2i_values = t2i.v_proj(self.keys).view(size, heads, head_dim).transpose(0, 1).contiguous()
        heads, head_dim, _ = _heads(i2t)
        self.i2t_queries = i2t.q_proj(keys_in).view(size, heads, head_dim).permute(1, 2, 0).contiguous()  # H x d x S


class FusedSamDecoder:
    """Decode prompt embeddings against one image with a segment-anything ``MaskDecoder``'s weights."""

    def __init__(self, mask_decoder: nn.Module, prompt_encoder: nn.Module) -> None:
        self.decoder = mask_decoder
        self.prompt_encoder = prompt_encoder
        self.transformer = mask_decoder.transformer
        self._states: list[_ImageState] = []  # the latest images first (the app decodes two at a time)
        self._lock = threading.Lock()
        self._positions: torch.Tensor | None = None

    @property
    def no_mask(self) -> torch.Tensor:
        """1 x C dense embedding of 'no mask input'."""
        return self.prompt_encoder.no_mask_embed.weight

    def positions(self, image_embed: torch.Tensor) -> torch.Tensor:
        """S x C positional encoding of the image tokens (the same for every image)."""
        positions = self._positions
        if positions is None or positions.device != image_embed.device:
            positions = self.prompt_encoder.get_dense_pe()[0].flatten(1).t().contiguous()
            self._positions = positions
        return positions

    def image_state(self, image_embed: torch.Tensor) -> _ImageState:
        """The shared state of ``image_embed`` (1 x C x 64 x 64): computed once while it is one of the
        last STATES_KEPT images decoded (keyed by the tensor object, which the engine's cache keeps)."""
        with self._lock:
            for state in self._states:
                if state.image_embed is image_embed:
                    return state
            state = _ImageState(self, image_embed)
            self._states = [state, *self._states[: STATES_KEPT - 1]]
            return state

    def __call__(self, image_embed: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor | None,
                 multimask: bool, min_score: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """image_embed 1 x C x 64 x 64; sparse N x Ts x C prompt tokens; dense N x C x 64 x 64 mask-input
        embeddings, or None for no mask input. Returns (N x M x 256 x 256 logits, N x M IoU predictions).

        With ``min_score``, a prompt none of whose masks is predicted above it is not upscaled (the costlier
        half of a decode): its logits are :data:`NOT_DECODED`."""
        decoder, transformer = self.decoder, self.transformer
        count = sparse.shape[0]
        output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        prompt = torch.cat([output_tokens.expand(count, -1, -1), sparse], dim=1)  # N x T x C
        positions = self.positions(image_embed)
        first, second = transformer.layers
        queries = first.norm1(first.self_attn(q=prompt, k=prompt, v=prompt))  # block 0 skips the PE here
        if dense is None:
            state = self.image_state(image_embed)
            keys = state.keys
            queries = first.norm2(queries + _token_to_image_shared(first.cross_attn_token_to_image, queries + prompt,
                                                                   state.t2i_keys, state.t2i_values))
            queries = first.norm3(queries + first.mlp(queries))
            keys = _image_to_token(first.cross_attn_image_to_token, keys, None, state.i2t_queries, queries + prompt,
                                   queries)
        else:
            keys = image_embed[0].flatten(1).t() + dense.flatten(2).transpose(1, 2)  # N x S x C
            keys_in = keys + positions  # one pass; the logits' products then take one operand, not two
            queries = first.norm2(queries + _token_to_image_folded(first.cross_attn_token_to_image, queries + prompt,
                                                                   keys, keys_in))
            queries = first.norm3(queries + first.mlp(queries))
            keys = _image_to_token(first.cross_attn_image_to_token, keys, keys_in, None, queries + prompt, queries)
            del keys_in
        keys = first.norm4(keys)  # N x S x C from here on
        keys_in = keys + positions
        q = queries + prompt
        queries = second.norm1(queries + second.self_attn(q=q, k=q, v=queries))
        queries = second.norm2(queries + _token_to_image_folded(second.cross_attn_token_to_image, queries + prompt,
                                                                keys, keys_in))
        queries = second.norm3(queries + second.mlp(queries))
        keys = second.norm4(_image_to_token(second.cross_attn_image_to_token, keys, keys_in, None,
                                            queries + prompt, queries))
        keys_in = torch.add(keys, positions, out=keys_in)  # the last block's buffer, reused
        first_mask = 1 if multimask else 0
        last_mask = decoder.num_mask_tokens if multimask else 1
        # the last attention is per prompt token and only the IoU token and the returned mask tokens are read
        used = [0, *range(1 + first_mask, 1 + last_mask)]
        queries, prompt = queries[:, used], prompt[:, used]
        queries = transformer.norm_final_attn(queries + _token_to_image_folded(
            transformer.final_attn_token_to_image, queries + prompt, keys, keys_in))
        del keys_in
        iou = decoder.iou_prediction_head(queries[:, 0])[:, first_mask:last_mask]
        wanted = None if min_score is None else (iou > min_score).any(dim=1)
        if wanted is None or bool(wanted.all()):
            return self._upscaled_masks(keys, queries[:, 1:], first_mask), iou
        side = _IMAGE_TOKENS_SIDE * 4
        masks = keys.new_full((count, last_mask - first_mask, side, side), NOT_DECODED)
        if bool(wanted.any()):
            masks[wanted] = self._upscaled_masks(keys[wanted], queries[wanted, 1:], first_mask)
        return masks, iou

    def _upscaled_masks(self, keys: torch.Tensor, mask_tokens: torch.Tensor, first_mask: int) -> torch.Tensor:
        """keys N x S x C (S = 64 x 64, row-major), mask_tokens N x M x C -> N x M x 256 x 256 logits.

        One prompt at a time: its 4-8 MB of upscaled features stay in cache between the products, the
        norm, the GELUs and the hypernetwork product (1.5x faster than a batch of 16 at once).
        """
        decoder = self.decoder
        conv1, norm, _, conv2, _ = decoder.output_upscaling
        count, size, channels = keys.shape
        side = _IMAGE_TOKENS_SIDE
        # ConvTranspose2d(k=2, s=2): each input pixel gives a 2x2 output block; weight is in x out x 2 x 2
        mid, out = conv1.weight.shape[1], conv2.weight.shape[1]
        w1 = conv1.weight.permute(0, 2, 3, 1).reshape(channels, 4 * mid)
        w2 = conv2.weight.permute(0, 2, 3, 1).reshape(mid, 4 * out)
        b1, b2 = conv1.bias.repeat(4), conv2.bias.repeat(4)
        mlps = decoder.output_hypernetworks_mlps[first_mask: first_mask + mask_tokens.shape[1]]
        hyper = torch.stack([mlp(mask_tokens[:, index]) for index, mlp in enumerate(mlps)], dim=2)  # N x c x M
        # the hypernetwork product of the four output pixels of each (a2, b2) at once: a block-diagonal
        # 4c x 4M matrix (a c x M product is a skinny GEMM that runs ~4x slower than this one)
        hyper = torch.stack([torch.block_diag(*[prompt_hyper] * 4) for prompt_hyper in hyper])  # N x 4c x 4M
        masks = keys.new_empty(count, hyper.shape[2] // 4, side * 4, side * 4)
        rows = UPSCALE_TOKEN_ROWS
        for index in range(count):
            for row in range(0, side, rows):
                # a band of token rows at a time: its upscaled features (~1 MB) stay in the core's cache
                # from the first product to the hypernetwork product; mm + in-place bias and GELU, as
                # addmm's broadcast bias copy and a fresh GELU output cost as much as the products
                x = torch.mm(keys[index, row * side: (row + rows) * side], w1).add_(b1)
                x = _gelu_(F.layer_norm(x.view(-1, mid), (mid,), norm.weight, norm.bias, norm.eps))  # LayerNorm2d
                x = _gelu_(torch.mm(x, w2).add_(b2))  # rows: (i, j, a, b), cols: (a2, b2, c)
                logits = torch.mm(x, hyper[index])  # (i j a b) x (a2 b2 M)
                target = masks[index, :, row * 4: (row + rows) * 4].view(-1, rows, 2, 2, side, 2, 2)
                target.copy_(logits.view(rows, side, 2, 2, 2, 2, -1).permute(6, 0, 2, 4, 1, 3, 5))
        return masks
