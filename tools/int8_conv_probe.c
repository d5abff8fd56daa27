// Raw oneDNN 2.6.3 probe behind docs/int8.md (session 10): the int8 kernel floor of one inference forward. For every
// convolution of EfficientNet-Lite0 and ResNet-18 at 224² (batch 32) and every linear layer of MiniLM-L6 (32 × 128
// tokens), the best oneDNN int8 forward_inference primitive: u8 or s8 source as TransferKit's quantisation plan has it
// (s8 where the input can be negative: image, residual stream, LayerNorm/GELU outputs; u8 after ReLU/ReLU6), s8
// per-channel weights, format_tag_any for source, weights and destination (oneDNN's blocked layouts), an int8
// destination wherever the consumer is an int8 layer, and the fused post-ops of the real network (ReLU6/ReLU, the
// residual sum, GELU, the requantising scale). Beside it the same layer in fp32 (format_tag_any, direct). Buffers are
// already in each primitive's layout; medians of R runs after one warm-up, int8 and fp32 timed in alternation.
// Per-layer medians × occurrences summed = a lower bound for one forward with oneDNN 2.6.3's kernels, ignoring
// everything that is not a convolution or linear layer (pooling, reorders, LayerNorm, attention, softmax).
// build and run: gcc -O2 tools/int8_conv_probe.c -o /tmp/int8_conv_probe -ldnnl && OMP_NUM_THREADS=2 /tmp/int8_conv_probe 5 [lite0|lite0fused|resnet18|minilm]
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static dnnl_engine_t eng; static dnnl_stream_t st;
#define CK(x) do{dnnl_status_t s_=(x); if(s_!=dnnl_success){fprintf(stderr,"fail %s %d line %d\n",#x,s_,__LINE__);exit(1);}}while(0)
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static dnnl_memory_t mk(const dnnl_memory_desc_t*d){
  dnnl_memory_t m; size_t sz=dnnl_memory_desc_get_size(d); unsigned char*p=aligned_alloc(64,(sz+63)/64*64+64);
  if(d->data_type==dnnl_f32){float*f=(float*)p; for(size_t i=0;i<sz/4;i++) f[i]=0.01f*(float)((int)(i%13)-6);}
  else for(size_t i=0;i<sz;i++) p[i]=(unsigned char)((i*37)&0x3f);
  CK(dnnl_memory_create(&m,d,eng,p)); return m;}
static void md(dnnl_memory_desc_t*d,int nd,const dnnl_dims_t dims,dnnl_data_type_t t,dnnl_format_tag_t f){CK(dnnl_memory_desc_init_by_tag(d,nd,dims,t,f));}
static const char* impl(const_dnnl_primitive_desc_t pd){const char*s; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&s); return s;}
static dnnl_memory_t q(const_dnnl_primitive_desc_t pd,dnnl_query_t w,int i){return mk(dnnl_primitive_desc_query_md(pd,w,i));}
typedef struct {dnnl_primitive_t p; dnnl_exec_arg_t a[8]; int n; char name[64];} run_t;

enum { NONE, RELU6, RELU, SUM, SUM_RELU, GELU };
// One layer: a convolution (C→K, H×H input, k×k, stride s, groups g) or, with k == 0, a matmul [M=H, C] · [C, K].
typedef struct { const char*what; int C,K,H,k,s,g,count; dnnl_data_type_t src,dst; int post; } layer_t;

static dnnl_primitive_attr_t attrs(int K,int int8,int post,dnnl_data_type_t dst){
  dnnl_primitive_attr_t a; CK(dnnl_primitive_attr_create(&a));
  if(int8){ float*sc=malloc(sizeof(float)*K); for(int i=0;i<K;i++) sc[i]=0.001f*(1+i%5);
    CK(dnnl_primitive_attr_set_output_scales(a,K,1<<1,sc)); free(sc); }
  dnnl_post_ops_t ops; CK(dnnl_post_ops_create(&ops));
  if(post==SUM||post==SUM_RELU) CK(dnnl_post_ops_append_sum(ops,int8&&dst!=dnnl_f32?0.8f:1.f));
  if(post==RELU6) CK(dnnl_post_ops_append_eltwise(ops,1,dnnl_eltwise_clip_v2,0,6));
  if(post==RELU||post==SUM_RELU) CK(dnnl_post_ops_append_eltwise(ops,1,dnnl_eltwise_relu,0,0));
  if(post==GELU) CK(dnnl_post_ops_append_eltwise(ops,1,dnnl_eltwise_gelu_erf,0,0));
  if(int8&&dst!=dnnl_f32) CK(dnnl_post_ops_append_eltwise(ops,1,dnnl_eltwise_linear,40.f,0)); // requantise 1/scale
  CK(dnnl_primitive_attr_set_post_ops(a,ops)); dnnl_post_ops_destroy(ops); return a;
}
// TensorFlow SAME padding (EfficientNet-Lite) or k/2 (ResNet): out = ceil(H/s), the odd pixel on the right.
static void build(const layer_t*L,int N,int int8,int same,run_t*r){
  dnnl_data_type_t sdt=int8?L->src:dnnl_f32, ddt=int8?L->dst:dnnl_f32, wdt=int8?dnnl_s8:dnnl_f32;
  dnnl_memory_desc_t s,w,b,d; dnnl_primitive_desc_t pd; dnnl_primitive_attr_t a=attrs(L->K,int8,L->post,ddt);
  if(L->k==0){ dnnl_dims_t sd={L->H,L->C}, wd={L->C,L->K}, bd={1,L->K}, dd={L->H,L->K};
    md(&s,2,sd,sdt,dnnl_ab); md(&w,2,wd,wdt,dnnl_format_tag_any); md(&b,2,bd,dnnl_f32,dnnl_ab); md(&d,2,dd,ddt,dnnl_ab);
    dnnl_matmul_desc_t mm; CK(dnnl_matmul_desc_init(&mm,&s,&w,&b,&d)); CK(dnnl_primitive_desc_create(&pd,&mm,a,eng,NULL));
  } else {
    int k=L->k,S=L->s,H=L->H,OH=(H+S-1)/S, tot=(OH-1)*S+k-H; if(tot<0)tot=0;
    int pl=same?tot/2:k/2, pr=same?tot-tot/2:k/2; if(!same) OH=(H+2*pl-k)/S+1;
    dnnl_dims_t sd={N,L->C,H,H}, dd={N,L->K,OH,OH}, str={S,S}, pL={pl,pl}, pR={pr,pr}, bd={L->K};
    if(L->g>1){ dnnl_dims_t wd={L->g,L->K/L->g,L->C/L->g,k,k}; md(&w,5,wd,wdt,dnnl_format_tag_any); }
    else { dnnl_dims_t wd={L->K,L->C,k,k}; md(&w,4,wd,wdt,dnnl_format_tag_any); }
    md(&s,4,sd,sdt,dnnl_format_tag_any); md(&d,4,dd,ddt,dnnl_format_tag_any); md(&b,1,bd,dnnl_f32,dnnl_x);
    dnnl_convolution_desc_t cd;
    CK(dnnl_convolution_forward_desc_init(&cd,dnnl_forward_inference,dnnl_convolution_direct,&s,&w,&b,&d,str,pL,pR));
    CK(dnnl_primitive_desc_create(&pd,&cd,a,eng,NULL));
  }
  dnnl_primitive_attr_destroy(a);
  CK(dnnl_primitive_create(&r->p,pd)); snprintf(r->name,64,"%s",impl(pd));
  r->n=4; r->a[0]=(dnnl_exec_arg_t){DNNL_ARG_SRC,q(pd,dnnl_query_src_md,0)}; r->a[1]=(dnnl_exec_arg_t){DNNL_ARG_WEIGHTS,q(pd,dnnl_query_weights_md,0)};
  r->a[2]=(dnnl_exec_arg_t){DNNL_ARG_BIAS,q(pd,dnnl_query_weights_md,1)}; r->a[3]=(dnnl_exec_arg_t){DNNL_ARG_DST,q(pd,dnnl_query_dst_md,0)};
  dnnl_primitive_desc_destroy(pd);
}
static double t1(run_t*r){double t=now(); CK(dnnl_primitive_execute(r->p,st,r->n,r->a)); CK(dnnl_stream_wait(st)); return now()-t;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}

#define U dnnl_u8
#define S dnnl_s8
#define F dnnl_f32
// EfficientNet-Lite0: stem, 16 MBConv blocks (expansion u8→, depthwise u8→u8, projection u8→s8 in the next block's
// scale, the residual sum fused where the block has one), head conv.
static layer_t lite0[]={
  {"stem 3x3 s2",3,32,224,3,2,1,1,S,U,RELU6},
  {"b0 dw 3x3",32,32,112,3,1,32,1,U,U,RELU6},{"b0 project",32,16,112,1,1,1,1,U,S,NONE},
  {"s2 expand",16,96,112,1,1,1,1,S,U,RELU6},{"s2 dw 3x3 s2",96,96,112,3,2,96,1,U,U,RELU6},{"s2 project",96,24,56,1,1,1,1,U,S,NONE},
  {"s2 expand",24,144,56,1,1,1,1,S,U,RELU6},{"s2 dw 3x3",144,144,56,3,1,144,1,U,U,RELU6},{"s2 project+sum",144,24,56,1,1,1,1,U,S,SUM},
  {"s3 expand",24,144,56,1,1,1,1,S,U,RELU6},{"s3 dw 5x5 s2",144,144,56,5,2,144,1,U,U,RELU6},{"s3 project",144,40,28,1,1,1,1,U,S,NONE},
  {"s3 expand",40,240,28,1,1,1,1,S,U,RELU6},{"s3 dw 5x5",240,240,28,5,1,240,1,U,U,RELU6},{"s3 project+sum",240,40,28,1,1,1,1,U,S,SUM},
  {"s4 expand",40,240,28,1,1,1,1,S,U,RELU6},{"s4 dw 3x3 s2",240,240,28,3,2,240,1,U,U,RELU6},{"s4 project",240,80,14,1,1,1,1,U,S,NONE},
  {"s4/s5 expand",80,480,14,1,1,1,3,S,U,RELU6},{"s4 dw 3x3",480,480,14,3,1,480,2,U,U,RELU6},{"s4 project+sum",480,80,14,1,1,1,2,U,S,SUM},
  {"s5 dw 5x5",480,480,14,5,1,480,1,U,U,RELU6},{"s5 project",480,112,14,1,1,1,1,U,S,NONE},
  {"s5/s6 expand",112,672,14,1,1,1,3,S,U,RELU6},{"s5 dw 5x5",672,672,14,5,1,672,2,U,U,RELU6},{"s5 project+sum",672,112,14,1,1,1,2,U,S,SUM},
  {"s6 dw 5x5 s2",672,672,14,5,2,672,1,U,U,RELU6},{"s6 project",672,192,7,1,1,1,1,U,S,NONE},
  {"s6/s7 expand",192,1152,7,1,1,1,4,S,U,RELU6},{"s6 dw 5x5",1152,1152,7,5,1,1152,3,U,U,RELU6},{"s6 project+sum",1152,192,7,1,1,1,3,U,S,SUM},
  {"s7 dw 3x3",1152,1152,7,3,1,1152,1,U,U,RELU6},{"s7 project",1152,320,7,1,1,1,1,U,S,NONE},
  {"head 1x1",320,1280,7,1,1,1,1,S,U,RELU6},
};
// ResNet-18: stem 7×7, basic blocks (conv1 u8→u8 ReLU; conv2 with the identity sum and ReLU, u8), 1×1 downsamples (s8).
static layer_t resnet18[]={
  {"conv1 7x7 s2",3,64,224,7,2,1,1,S,U,RELU},
  {"l1 conv 3x3",64,64,56,3,1,1,2,U,U,RELU},{"l1 conv 3x3+sum",64,64,56,3,1,1,2,U,U,SUM_RELU},
  {"l2.0 conv1 3x3 s2",64,128,56,3,2,1,1,U,U,RELU},{"l2 downsample s2",64,128,56,1,2,1,1,U,S,NONE},
  {"l2 conv 3x3",128,128,28,3,1,1,1,U,U,RELU},{"l2 conv 3x3+sum",128,128,28,3,1,1,2,U,U,SUM_RELU},
  {"l3.0 conv1 3x3 s2",128,256,28,3,2,1,1,U,U,RELU},{"l3 downsample s2",128,256,28,1,2,1,1,U,S,NONE},
  {"l3 conv 3x3",256,256,14,3,1,1,1,U,U,RELU},{"l3 conv 3x3+sum",256,256,14,3,1,1,2,U,U,SUM_RELU},
  {"l4.0 conv1 3x3 s2",256,512,14,3,2,1,1,U,U,RELU},{"l4 downsample s2",256,512,14,1,2,1,1,U,S,NONE},
  {"l4 conv 3x3",512,512,7,3,1,1,1,U,U,RELU},{"l4 conv 3x3+sum",512,512,7,3,1,1,2,U,U,SUM_RELU},
};
// MiniLM-L6 linears on 32 × 128 = 4096 tokens, × 6 layers: q/k/v packed (s8 out), attention output + residual
// (fp32 out: LayerNorm follows), intermediate with GELU (s8 out), output + residual (fp32 out).
static layer_t minilm[]={
  {"qkv 384x1152",384,1152,4096,0,1,1,6,S,S,NONE},
  {"attn out 384x384+sum",384,384,4096,0,1,1,6,S,F,SUM},
  {"intermediate 384x1536 gelu",384,1536,4096,0,1,1,6,S,S,GELU},
  {"output 1536x384+sum",1536,384,4096,0,1,1,6,S,F,SUM},
};

static void probe(const char*model,layer_t*L,int n,int R,int same,double unitsPerForward){
  double ti=0,tf=0,mni=0,mnf=0; int convs=0;
  printf("\n## %s (batch 32, medians of %d)\n| layer | shape | × | int8 impl | int8 ms | fp32 impl | fp32 ms | fp32/int8 |\n|---|---|---|---|---|---|---|---|\n",model,R);
  for(int i=0;i<n;i++){
    run_t ri,rf; build(&L[i],32,1,same,&ri); build(&L[i],32,0,same,&rf);
    double a[64],b[64]; t1(&ri); t1(&rf);
    for(int it=0;it<R;it++){a[it]=t1(&ri); b[it]=t1(&rf);}
    qsort(a,R,sizeof(double),cmp); qsort(b,R,sizeof(double),cmp);
    double mi=a[R/2]*1e3, mf=b[R/2]*1e3; ti+=mi*L[i].count; tf+=mf*L[i].count; convs+=L[i].count;
    mni+=a[0]*1e3*L[i].count; mnf+=b[0]*1e3*L[i].count;
    char shape[96];
    if(L[i].k) snprintf(shape,96,"%d→%d %d² k%d s%d%s %s→%s",L[i].C,L[i].K,L[i].H,L[i].k,L[i].s,L[i].g>1?" dw":"",
                        L[i].src==dnnl_u8?"u8":"s8",L[i].dst==dnnl_u8?"u8":L[i].dst==dnnl_s8?"s8":"f32");
    else snprintf(shape,96,"[%d,%d]·[%d,%d] %s→%s",L[i].H,L[i].C,L[i].C,L[i].K,L[i].src==dnnl_u8?"u8":"s8",
                  L[i].dst==dnnl_u8?"u8":L[i].dst==dnnl_s8?"s8":"f32");
    printf("| %s | %s | %d | %s | %.2f | %s | %.2f | %.2f |\n",L[i].what,shape,L[i].count,ri.name,mi,rf.name,mf,mf/mi);
    fflush(stdout);
    dnnl_primitive_destroy(ri.p); dnnl_primitive_destroy(rf.p);
    for(int j=0;j<4;j++){void*p; dnnl_memory_get_data_handle(ri.a[j].memory,&p); dnnl_memory_destroy(ri.a[j].memory); free(p);
                         dnnl_memory_get_data_handle(rf.a[j].memory,&p); dnnl_memory_destroy(rf.a[j].memory); free(p);}
  }
  printf("TOTAL %s: %d layers, int8 %.1f ms (%.1f /s), fp32 %.1f ms (%.1f /s), fp32/int8 %.2f\n",model,convs,ti,
         unitsPerForward/(ti*1e-3),tf,unitsPerForward/(tf*1e-3),tf/ti);
  printf("TOTAL-OF-MINIMA %s: int8 %.1f ms (%.1f /s), fp32 %.1f ms (%.1f /s)\n",model,mni,unitsPerForward/(mni*1e-3),mnf,
         unitsPerForward/(mnf*1e-3));
}
// EfficientNet-Lite0's expansion (1×1) + 3×3 depthwise pairs as ONE oneDNN convolution with a depthwise post-op
// (dnnl_post_ops_append_dw: the expanded activation never leaves the cache), int8 (u8 intermediate and output) and fp32:
// (in, expanded, input size, depthwise stride, occurrences).
static int pairs[][5]={{16,96,112,2,1},{24,144,56,1,1},{40,240,28,2,1},{80,480,14,1,2},{192,1152,7,1,1}};
static int fused(int C,int M,int H,int S,int int8,run_t*r){
  dnnl_data_type_t sdt=int8?dnnl_s8:dnnl_f32, mdt=int8?dnnl_u8:dnnl_f32, wdt=int8?dnnl_s8:dnnl_f32;
  dnnl_memory_desc_t s,w,b,d; dnnl_dims_t sd={32,C,H,H}, wd={M,C,1,1}, dd={32,M,H,H}, bd={M}, one={1,1}, zero={0,0};
  md(&s,4,sd,sdt,dnnl_format_tag_any); md(&w,4,wd,wdt,dnnl_format_tag_any); md(&d,4,dd,mdt,dnnl_format_tag_any); md(&b,1,bd,dnnl_f32,dnnl_x);
  dnnl_primitive_attr_t a; CK(dnnl_primitive_attr_create(&a));
  float*sc=malloc(sizeof(float)*M); for(int i=0;i<M;i++) sc[i]=0.001f*(1+i%5);
  if(int8) CK(dnnl_primitive_attr_set_output_scales(a,M,1<<1,sc));
  dnnl_post_ops_t ops; CK(dnnl_post_ops_create(&ops));
  CK(dnnl_post_ops_append_eltwise(ops,1,dnnl_eltwise_clip_v2,0,6)); if(int8) CK(dnnl_post_ops_append_eltwise(ops,1,dnnl_eltwise_linear,40.f,0));
  CK(dnnl_post_ops_append_dw(ops,wdt,dnnl_f32,mdt,3,S,1,int8?M:0,int8?1<<1:0,int8?sc:NULL));
  CK(dnnl_post_ops_append_eltwise(ops,1,dnnl_eltwise_clip_v2,0,6)); if(int8) CK(dnnl_post_ops_append_eltwise(ops,1,dnnl_eltwise_linear,40.f,0));
  CK(dnnl_primitive_attr_set_post_ops(a,ops)); dnnl_post_ops_destroy(ops); free(sc);
  dnnl_convolution_desc_t cd; dnnl_primitive_desc_t pd;
  CK(dnnl_convolution_forward_desc_init(&cd,dnnl_forward_inference,dnnl_convolution_direct,&s,&w,&b,&d,one,zero,zero));
  dnnl_status_t st_=dnnl_primitive_desc_create(&pd,&cd,a,eng,NULL); dnnl_primitive_attr_destroy(a);
  if(st_!=dnnl_success) return 0;
  CK(dnnl_primitive_create(&r->p,pd)); snprintf(r->name,64,"%s",impl(pd));
  int dw=DNNL_ARG_ATTR_POST_OP_DW;
  r->n=6; r->a[0]=(dnnl_exec_arg_t){DNNL_ARG_SRC,q(pd,dnnl_query_src_md,0)}; r->a[1]=(dnnl_exec_arg_t){DNNL_ARG_WEIGHTS,q(pd,dnnl_query_weights_md,0)};
  r->a[2]=(dnnl_exec_arg_t){DNNL_ARG_BIAS,q(pd,dnnl_query_weights_md,1)}; r->a[3]=(dnnl_exec_arg_t){DNNL_ARG_DST,q(pd,dnnl_query_dst_md,0)};
  r->a[4]=(dnnl_exec_arg_t){dw|DNNL_ARG_WEIGHTS,mk(dnnl_primitive_desc_query_md(pd,dnnl_query_exec_arg_md,dw|DNNL_ARG_WEIGHTS))};
  r->a[5]=(dnnl_exec_arg_t){dw|DNNL_ARG_BIAS,mk(dnnl_primitive_desc_query_md(pd,dnnl_query_exec_arg_md,dw|DNNL_ARG_BIAS))};
  dnnl_primitive_desc_destroy(pd); return 1;
}
static void probeFused(int R){
  printf("\n## efficientnet_lite0: expansion + 3x3 depthwise fused (dw post-op), batch 32, medians of %d\n| pair | × | int8 impl | int8 ms | fp32 impl | fp32 ms |\n|---|---|---|---|---|---|\n",R);
  for(int i=0;i<5;i++){ run_t ri,rf; int oi=fused(pairs[i][0],pairs[i][1],pairs[i][2],pairs[i][3],1,&ri), of=fused(pairs[i][0],pairs[i][1],pairs[i][2],pairs[i][3],0,&rf);
    double a[64],b[64]; if(oi)t1(&ri); if(of)t1(&rf);
    for(int it=0;it<R;it++){a[it]=oi?t1(&ri):0; b[it]=of?t1(&rf):0;}
    qsort(a,R,sizeof(double),cmp); qsort(b,R,sizeof(double),cmp);
    printf("| %d→%d %d² dw s%d | %d | %s | %.2f | %s | %.2f |\n",pairs[i][0],pairs[i][1],pairs[i][2],pairs[i][3],pairs[i][4],
           oi?ri.name:"unimplemented",a[R/2]*1e3,of?rf.name:"unimplemented",b[R/2]*1e3); fflush(stdout);
  }
}
int main(int argc,char**argv){
  CK(dnnl_engine_create(&eng,dnnl_cpu,0)); CK(dnnl_stream_create(&st,eng,dnnl_stream_default_flags));
  int R=atoi(argc>1?argv[1]:"5"); if(R<1)R=1; if(R>64)R=64;
  const char*only=argc>2?argv[2]:"";
  if(!*only||!strcmp(only,"lite0")) probe("efficientnet_lite0",lite0,sizeof lite0/sizeof*lite0,R,1,32);
  if(!*only||!strcmp(only,"lite0fused")) probeFused(R);
  if(!*only||!strcmp(only,"resnet18")) probe("resnet18",resnet18,sizeof resnet18/sizeof*resnet18,R,0,32);
  if(!*only||!strcmp(only,"minilm")) probe("minilm",minilm,sizeof minilm/sizeof*minilm,R,0,32);
  return 0;
}
