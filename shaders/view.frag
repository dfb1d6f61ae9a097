#version 330 core
// The live image with the assist overlays composited on the GPU.
//
// u_image   RGBA8, display-encoded (sRGB) view.
// u_peaking R8, focus-peaking level per view pixel: 0 none, 1..3 weak..strong (max-pooled
//           from sensor resolution by the assists stage).
// u_zebra   R8, zebra flags per view pixel (stages/zebra.py): bit 0 over, 1 under,
//           2-4 R/G/B clipped, 5 RAW clipped.
// u_fc_lut  the false-colour table of stages/falsecolor.py, indexed by the same 8-bit luma.
// Grid, aspect guide and framelines are drawn in image coordinates so they stay glued to the
// picture whatever the window size; their line widths are in screen pixels.
//
// Each overlay is compiled in or out by a VF_* define (render/view.py builds the variant the
// switches ask for): a software rasteriser such as llvmpipe runs both sides of a branch, so
// an overlay that is off must cost nothing. VF_GRID is 0 (off), 1 (thirds) or 2 (quarters);
// VF_FRAMES is the number of framelines.

in vec2 v_uv;
in vec2 v_quad;
out vec4 o_color;

uniform sampler2D u_image;
uniform sampler2D u_peaking;
uniform sampler2D u_zebra;
uniform vec2 u_view_px;         // size of the drawn quad on screen, pixels

uniform vec3 u_peak_color;
uniform float u_time;           // seconds; makes the zebra stripes crawl
uniform float u_zebra_period;   // stripe width, screen pixels
uniform float u_zebra_speed;    // stripe motion, screen pixels per second
uniform sampler2D u_fc_lut;     // 256 x 1 RGBA: false colour of each 8-bit luma

uniform float u_guide_aspect;   // width/height of the aspect guide, 0 = off
uniform float u_image_aspect;   // width/height of the image
uniform vec4 u_frames[8];       // framelines of other focal lengths (uv rectangles)
uniform vec3 u_frame_color;

#pragma include "overlay_common.glsl"

void main() {
    vec3 rgb = texture(u_image, v_uv).rgb;
#if VF_FALSE_COLOUR
    rgb = texelFetch(u_fc_lut, ivec2(luma8(rgb), 0), 0).rgb;
#endif
#if VF_ZEBRA
    {
        int flags = int(texture(u_zebra, v_uv).r * 255.0 + 0.5);
        // Diagonal stripes in screen pixels that crawl with time: motion catches the eye
        // even on a busy picture. On the stripes the pixel takes its flag colour.
        float phase = u_time * u_zebra_speed;
        float k = floor((gl_FragCoord.x - gl_FragCoord.y + phase) / u_zebra_period);
        if (flags != 0 && mod(k, 2.0) == 0.0) rgb = zebra_colour(flags);
    }
#endif
#if VF_PEAKING
    {
        int level = int(texture(u_peaking, v_uv).r * 255.0 + 0.5);
        if (level > 0) {
            // Stronger edges get more opaque colour; level 1 still reads clearly.
            float alpha = 0.45 + 0.55 * float(min(level, 3)) / 3.0;
            rgb = mix(rgb, u_peak_color, alpha);
        }
    }
#endif
#if VF_GRID || VF_GUIDE || VF_FRAMES || VF_BORDER
    vec2 onepx = 1.0 / max(u_view_px, vec2(1.0));  // one screen pixel in quad units
#endif
#if VF_GRID
    rgb = draw_grid(rgb, v_quad, onepx, VF_GRID);
#endif
#if VF_GUIDE
    rgb = draw_aspect_guide(rgb, v_quad, onepx, u_guide_aspect, u_image_aspect);
#endif
#if VF_FRAMES
    for (int i = 0; i < VF_FRAMES; ++i) {  // a constant count: the loop unrolls
        rgb = draw_frameline(rgb, v_quad, onepx, u_frames[i], u_frame_color);
    }
#endif
#if VF_BORDER
    {
        vec2 px = v_quad * u_view_px;
        vec2 d = min(px, u_view_px - px);
        if (min(d.x, d.y) < 2.0) rgb = vec3(1.0, 0.85, 0.2);
    }
#endif
    o_color = vec4(rgb, 1.0);
}
