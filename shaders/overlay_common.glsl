// Helpers shared by the view shaders (spliced in by the loader at `include "..."`).

// 8-bit Rec. 709 luma exactly as stages/zebra.py luma8 computes it on the 8-bit view.
int luma8(vec3 rgb) {
    ivec3 v = ivec3(rgb * 255.0 + 0.5);
    return (54 * v.r + 183 * v.g + 19 * v.b + 128) >> 8;
}

// Stripe colour of a zebra flag set, with the priority of stages/zebra.py
// (zebra_colours_reference): RAW clip orange, some RGB channels clipped in their colours,
// over (or all three clipped) black, under blue.
vec3 zebra_colour(int flags) {
    if ((flags & 32) != 0) return vec3(1.0, 128.0 / 255.0, 0.0);
    int rgb = flags & 28;
    if (rgb != 0 && rgb != 28) {
        return vec3((flags & 4) != 0 ? 1.0 : 0.0, (flags & 8) != 0 ? 1.0 : 0.0,
                    (flags & 16) != 0 ? 1.0 : 0.0);
    }
    if (rgb == 28 || (flags & 1) != 0) return vec3(0.0);
    return vec3(0.0, 80.0 / 255.0, 1.0);
}

// Distance in pixels from x to the nearest of the lines at k/n (k = 1..n-1), along one axis.
float line_dist(float x, float n, float onepx) {
    float f = x * n;
    float d = abs(f - floor(f + 0.5)) / n;
    if (floor(f + 0.5) <= 0.0 || floor(f + 0.5) >= n) d = 1.0;
    return d / onepx;
}

vec3 draw_grid(vec3 rgb, vec2 q, vec2 onepx, int grid) {
    if (grid == 0) return rgb;
    float n = grid == 1 ? 3.0 : 4.0;
    float d = min(line_dist(q.x, n, onepx.x), line_dist(q.y, n, onepx.y));
    return d < 0.75 ? mix(rgb, vec3(1.0), 0.55) : rgb;
}

// Darken outside a centred rectangle of the guide's aspect ratio and outline it.
vec3 draw_aspect_guide(vec3 rgb, vec2 q, vec2 onepx, float guide, float image_aspect) {
    vec2 half_size = guide > image_aspect ? vec2(0.5, 0.5 * image_aspect / guide)
                                          : vec2(0.5 * guide / image_aspect, 0.5);
    vec2 d = abs(q - 0.5) - half_size;
    if (d.x > 0.0 || d.y > 0.0) return rgb * 0.35;
    vec2 edge = -d / onepx;
    return min(edge.x, edge.y) < 1.0 ? mix(rgb, vec3(1.0, 1.0, 0.6), 0.8) : rgb;
}

// A bright-line frame (Leica style): a rectangle with its corners emphasised.
vec3 draw_frameline(vec3 rgb, vec2 q, vec2 onepx, vec4 r, vec3 colour) {
    vec2 lo = r.xy, hi = r.zw;
    vec2 dlo = (q - lo) / onepx, dhi = (hi - q) / onepx;
    bool inside = dlo.x > -1.5 && dlo.y > -1.5 && dhi.x > -1.5 && dhi.y > -1.5;
    if (!inside) return rgb;
    float dx = min(abs(dlo.x), abs(dhi.x)), dy = min(abs(dlo.y), abs(dhi.y));
    bool on_edge = dx < 1.5 || dy < 1.5;
    if (!on_edge) return rgb;
    // corner brackets at full strength, the rest of the frame fainter
    vec2 size = (hi - lo) / onepx;
    float corner = 0.12 * min(size.x, size.y);
    bool near_corner = min(dlo.x, dhi.x) < corner && min(dlo.y, dhi.y) < corner;
    return mix(rgb, colour, near_corner ? 0.95 : 0.6);
}
