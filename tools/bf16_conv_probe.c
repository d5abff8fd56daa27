// Raw oneDNN 2.6.3 probe behind docs/bf16-training.md: for the convolution shapes of ResNet-18 at 224² (batch 32),
// forward_training, backward_data and backward_weights in fp32 (dnnl_convolution_auto: Winograd where oneDNN picks it,
// as TransferKit does), bf16 with format_tag_any (blocked) and bf16 or fp32 outputs, bf16 NHWC, and fp32 direct;
// buffers already in each primitive's layout, medians of R runs, all configurations timed in alternation.
// build and run: gcc -O2 tools/bf16_conv_probe.c -o /tmp/bf16_conv_probe -ldnnl && OMP_NUM_THREADS=2 /tmp/bf16_conv_probe 5
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static dnnl_engine_t eng; static dnnl_stream_t st;
#define CK(x) do{dnnl_status_t s_=(x); if(s_!=dnnl_success){fprintf(stderr,"fail %s %d line %d\n",#x,s_,__LINE__);exit(1);}}while(0)
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static dnnl_memory_t mk(const dnnl_memory_desc_t*d){dnnl_memory_t m; size_t sz=dnnl_memory_desc_get_size(d); void*p=aligned_alloc(64,(sz+63)/64*64+64); memset(p,0,sz); CK(dnnl_memory_create(&m,d,eng,p)); return m;}
static void md(dnnl_memory_desc_t*d,int nd,const dnnl_dims_t dims,dnnl_data_type_t t,dnnl_format_tag_t f){CK(dnnl_memory_desc_init_by_tag(d,nd,dims,t,f));}
typedef struct {dnnl_primitive_t p; dnnl_exec_arg_t a[8]; int n;} run_t;
static const char* impl(const_dnnl_primitive_desc_t pd){const char*s; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&s); return s;}
static dnnl_memory_t q(const_dnnl_primitive_desc_t pd,dnnl_query_t w){return mk(dnnl_primitive_desc_query_md(pd,w,0));}
static int KS=3; static void build(int N,int C,int K,int H,int S,dnnl_data_type_t dt,dnnl_data_type_t dst_t,dnnl_format_tag_t tag,dnnl_alg_kind_t alg,run_t r[3],char names[3][64]){
  int P=KS/2; int OH=(H+2*P-KS)/S+1;
  dnnl_dims_t sd={N,C,H,H}, wd={K,C,KS,KS}, dd={N,K,OH,OH}, str={S,S}, pad={P,P};
  dnnl_memory_desc_t s,w,d; md(&s,4,sd,dt,tag); md(&w,4,wd,dt,dnnl_format_tag_any); md(&d,4,dd,dst_t,tag);
  dnnl_convolution_desc_t cd; dnnl_primitive_desc_t fpd,bdpd,bwpd;
  CK(dnnl_convolution_forward_desc_init(&cd,dnnl_forward_training,alg,&s,&w,NULL,&d,str,pad,pad));
  CK(dnnl_primitive_desc_create(&fpd,&cd,NULL,eng,NULL));
  dnnl_memory_desc_t ds; md(&ds,4,sd,dst_t,tag); md(&d,4,dd,dt,tag);
  dnnl_convolution_desc_t bd; CK(dnnl_convolution_backward_data_desc_init(&bd,alg,&ds,&w,&d,str,pad,pad));
  CK(dnnl_primitive_desc_create(&bdpd,&bd,NULL,eng,fpd));
  dnnl_memory_desc_t dw; md(&dw,4,wd,dnnl_f32,dnnl_format_tag_any); md(&s,4,sd,dt,tag);
  dnnl_convolution_desc_t bw; CK(dnnl_convolution_backward_weights_desc_init(&bw,alg,&s,&dw,NULL,&d,str,pad,pad));
  CK(dnnl_primitive_desc_create(&bwpd,&bw,NULL,eng,fpd));
  dnnl_primitive_desc_t pds[3]={fpd,bdpd,bwpd};
  for(int i=0;i<3;i++){ CK(dnnl_primitive_create(&r[i].p,pds[i])); snprintf(names[i],64,"%s",impl(pds[i])); }
  r[0].n=3; r[0].a[0]=(dnnl_exec_arg_t){DNNL_ARG_SRC,q(fpd,dnnl_query_src_md)}; r[0].a[1]=(dnnl_exec_arg_t){DNNL_ARG_WEIGHTS,q(fpd,dnnl_query_weights_md)}; r[0].a[2]=(dnnl_exec_arg_t){DNNL_ARG_DST,q(fpd,dnnl_query_dst_md)};
  r[1].n=3; r[1].a[0]=(dnnl_exec_arg_t){DNNL_ARG_DIFF_DST,q(bdpd,dnnl_query_diff_dst_md)}; r[1].a[1]=(dnnl_exec_arg_t){DNNL_ARG_WEIGHTS,q(bdpd,dnnl_query_weights_md)}; r[1].a[2]=(dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC,q(bdpd,dnnl_query_diff_src_md)};
  r[2].n=3; r[2].a[0]=(dnnl_exec_arg_t){DNNL_ARG_SRC,q(bwpd,dnnl_query_src_md)}; r[2].a[1]=(dnnl_exec_arg_t){DNNL_ARG_DIFF_DST,q(bwpd,dnnl_query_diff_dst_md)}; r[2].a[2]=(dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS,q(bwpd,dnnl_query_diff_weights_md)};
  for(int i=0;i<3;i++){ const dnnl_memory_desc_t*sp=dnnl_primitive_desc_query_md(pds[i],dnnl_query_scratchpad_md,0); (void)sp; }
}
static double t1(run_t*r){double t=now(); CK(dnnl_primitive_execute(r->p,st,r->n,r->a)); CK(dnnl_stream_wait(st)); return now()-t;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  CK(dnnl_engine_create(&eng,dnnl_cpu,0)); CK(dnnl_stream_create(&st,eng,dnnl_stream_default_flags));
  int shapes[][5]={{3,64,224,2,7},{64,64,56,1,3},{64,128,56,2,3},{64,128,56,2,1},{128,128,28,1,3},{128,256,28,2,3},{128,256,28,2,1},{256,256,14,1,3},{256,512,14,2,3},{256,512,14,2,1},{512,512,7,1,3}};
  const char* cfgn[]={"f32 auto any","bf16 any dst bf16","bf16 any dst f32","bf16 nhwc dst bf16","f32 direct any"};
  int R=atoi(argc>1?argv[1]:"7");
  for(int si=0;si<11;si++){ KS=shapes[si][4];
    int C=shapes[si][0],K=shapes[si][1],H=shapes[si][2],S=shapes[si][3];
    run_t r[5][3]; char nm[5][3][64];
    build(32,C,K,H,S,dnnl_f32,dnnl_f32,dnnl_format_tag_any,dnnl_convolution_auto,r[0],nm[0]);
    build(32,C,K,H,S,dnnl_bf16,dnnl_bf16,dnnl_format_tag_any,dnnl_convolution_direct,r[1],nm[1]);
    build(32,C,K,H,S,dnnl_bf16,dnnl_f32,dnnl_format_tag_any,dnnl_convolution_direct,r[2],nm[2]);
    build(32,C,K,H,S,dnnl_bf16,dnnl_bf16,dnnl_nhwc,dnnl_convolution_direct,r[3],nm[3]);
    build(32,C,K,H,S,dnnl_f32,dnnl_f32,dnnl_format_tag_any,dnnl_convolution_direct,r[4],nm[4]);
    double med[5][3];
    double ts[5][3][64];
    for(int c=0;c<5;c++)for(int p=0;p<3;p++)t1(&r[c][p]);
    for(int it=0;it<R;it++)for(int c=0;c<5;c++)for(int p=0;p<3;p++)ts[c][p][it]=t1(&r[c][p]);
    printf("shape C%d K%d H%d s%d k%d\n",C,K,H,S,KS);
    for(int c=0;c<5;c++){double tot=0;for(int p=0;p<3;p++){qsort(ts[c][p],R,sizeof(double),cmp);med[c][p]=ts[c][p][R/2];tot+=med[c][p];}
      printf("  %-20s fwd %6.2f bwd_d %6.2f bwd_w %6.2f total %6.2f ms  ratio f32/this %.2f  [%s | %s | %s]\n",cfgn[c],med[c][0]*1e3,med[c][1]*1e3,med[c][2]*1e3,tot*1e3,
        (med[0][0]+med[0][1]+med[0][2])/tot,nm[c][0],nm[c][1],nm[c][2]);}
  }
}
